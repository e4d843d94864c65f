// Keras class name → layer, for loading model.json. Configs arrive in camelCase (the loader folds
// Keras' snake_case); anything we cannot honour exactly is refused, never silently changed.
import { BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Activation, type Layer } from './index';
import { DigitsError } from '../errors';

type Config = Record<string, any>;

function expect(cond: boolean, where: string, what: string): void {
  if (!cond) throw new DigitsError(`${where}: ${what}`);
}

function common(c: Config, where: string): { name: string; inputShape?: number[] } {
  expect(!c.dataFormat || c.dataFormat === 'channels_last', where, `data_format '${c.dataFormat}' is not supported (channels_last only)`);
  const bis: (number | null)[] | undefined = c.batchInputShape;
  expect(bis == null || Array.isArray(bis), where, `batch_input_shape must be a list, got ${JSON.stringify(bis)}`);
  return { name: c.name, inputShape: bis ? (bis.slice(1) as number[]) : undefined };
}

export const LAYER_CLASSES: Record<string, (c: Config, where: string) => Layer> = {
  Conv2D: (c, w) => {
    expect(!c.dilationRate || [].concat(c.dilationRate).every((d: number) => d === 1), w, 'dilation_rate other than 1 is not supported');
    expect(!c.groups || c.groups === 1, w, 'grouped convolution is not supported');
    return new Conv2D({ ...common(c, w), filters: c.filters, kernelSize: c.kernelSize, strides: c.strides, padding: c.padding, activation: c.activation, useBias: c.useBias });
  },
  Dense: (c, w) => new Dense({ ...common(c, w), units: c.units, activation: c.activation, useBias: c.useBias }),
  MaxPooling2D: (c, w) => new MaxPooling2D({ ...common(c, w), poolSize: c.poolSize, strides: c.strides, padding: c.padding }),
  Flatten: (c, w) => new Flatten(common(c, w)),
  Dropout: (c, w) => new Dropout({ ...common(c, w), rate: c.rate }),
  Activation: (c, w) => new Activation({ ...common(c, w), activation: c.activation }),
  BatchNormalization: (c, w) => {
    const axis = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
    // a positive axis is checked against the input rank once the model is built (see io.ts)
    expect(axis.length === 1 && Number.isInteger(axis[0]), w, `axis ${JSON.stringify(c.axis)} is not supported (last axis only)`);
    expect(c.center !== false && c.scale !== false, w, 'center=false / scale=false are not supported');
    return new BatchNormalization({ ...common(c, w), momentum: c.momentum, epsilon: c.epsilon });
  },
};
