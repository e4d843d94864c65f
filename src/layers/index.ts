export * from './layer';
export { ActivationLayer as Activation, Activated } from './activation';
export { Conv2D } from './conv2d';
export { Dense } from './dense';
export { MaxPooling2D } from './pooling';
export { Flatten } from './flatten';
export { Dropout } from './dropout';
export { BatchNormalization } from './batchnorm';
