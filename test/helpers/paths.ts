import * as path from 'path';

/** Real MNIST (four *-ubyte.gz files). This compiles to dist/test/helpers/, four levels below /work. */
export const SHARED_MNIST = process.env.DIGITS_TEST_DATA ?? path.resolve(__dirname, '../../../../shared/mnist');
