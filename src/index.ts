// The library API, Keras-style: build a Sequential from layers (or take a preset), compile, fit,
// evaluate, predict, save in TF.js format and load back.
export { Sequential, type FitArgs, type FitState, type FitCheckpoint, type History, type CompileArgs } from './model/sequential';
export * as layers from './layers';
export {
  Conv2D,
  Dense,
  Dropout,
  Flatten,
  MaxPooling2D,
  AveragePooling2D,
  GlobalAveragePooling2D,
  GlobalMaxPooling2D,
  Reshape,
  Rescaling,
  BatchNormalization,
  Activation,
  ReLU,
  LeakyReLU,
  ELU,
  Softmax,
} from './layers';
export { SGD, RMSprop, Adam, makeOptimizer, type Optimizer } from './model/optimizers';
export { EarlyStopping, ReduceLROnPlateau, LearningRateScheduler, ModelCheckpoint, OneCycle, oneCycleAt } from './train/callbacks';
export type { Callback, Logs } from './model/callback';
export { ImageDataGenerator, type AugmentOptions } from './train/augment';
export { writeCheckpoint, readCheckpoint, restoreCheckpoint, latestCheckpoint, type Checkpoint } from './train/checkpoint';
export { confusionMatrix, perClassMetrics, predictedLabels } from './train/metrics';
export { saveModel, loadModel } from './io/tfjs';
export { loadModelFile, saveModelFile, loadWeightsInto, modelBytes } from './io/model-file';
export { toOnnx } from './io/onnx';
export { PRESETS, getPreset, type Preset } from './zoo/presets';
export { loadDataset, resolveDataDir, toTensor, splitValidation } from './data/mnist';
export { download } from './data/download';
export { getKernels, reference, backendDescription, setThreads, setPrecision, type Kernels } from './kernels';
export { tensor, type Tensor } from './tensor';
export { Rng } from './rng';
export { DigitsError, UsageError } from './errors';
