// typescript-eslint's recommended rules over the TypeScript sources (formatting is Prettier's job).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'npm/**', 'native/build/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // unused names are errors, except those that say they are unused
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // file readers match control characters on purpose (NULs in HDF5 strings, escapes in names and logs)
      'no-control-regex': 'off',
    },
  },
  {
    // parsed foreign JSON (Keras and TF.js configs, checkpoints, Vega specs) is any until its checks have run;
    // tests poke at it the same way
    files: ['src/io/**', 'src/train/checkpoint.ts', 'src/report/charts.ts', 'src/layers/registry.ts', 'test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
