export * from './meta';
export * from './pod';
export * from './node';
export * from './misc';
export * from './quantity';
