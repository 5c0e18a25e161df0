export { createApp, startUi, type RunningUi, type UiOptions } from './server';
export { defaultAssetsDir } from './assets';
export type { GraphPlanner } from './api/graphs';
