export {
  type DpEvent,
  NEIGHBOURING_RELATION,
  SAMPLING_SCHEME,
  dpSgdEvent,
  parseDpEvent,
  simplifyEvent,
  containsNonPrivate,
  eventsEqual,
  describeEvent,
} from './events';
export {
  type AccountantName,
  type EpsilonReport,
  type AccountingOptions,
  DEFAULT_ACCOUNTANT,
  DEFAULT_INTERVAL,
  epsilonOf,
  deltaOf,
} from './accountant';
export { calibrateSigma, calibrateSteps } from './calibrate';
export { DEFAULT_ORDERS, rdpCurve, epsilonFromRdp, deltaFromRdp, rdpSubsampledGaussian, rdpLaplace } from './rdp';
export { gaussianDelta } from './pld';
export {
  type UnitEvent,
  type UnitPrivacy,
  type UnitLineage,
  type LineagePrivacy,
  SEEDED_NOISE_GAP,
  SHUFFLE_GAP,
  defaultUnitDelta,
  unitDeltaProblem,
  composeUnit,
  lineagePrivacy,
} from './lineage';
export {
  type OneRunCounts,
  type GuessRule,
  type RuleResult,
  type OneRunAudit,
  type OneRunAuditOptions,
  oneRunPValue,
  oneRunEpsilonLowerBound,
  guessFromScores,
  guessRules,
  oneRunAudit,
  exposure,
} from './audit';
