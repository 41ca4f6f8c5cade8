/**
 * Game days as a library (issue #18 item 5): the plan file, the session that runs it, the success criteria
 * and the report. `faultline gameday` (cli/gameday.ts) and the server's game days are built on these.
 */
export { evaluateCriteria, runVerdict } from './criteria.js';
export {
  checkPlanExperiments,
  experimentSource,
  type LoadedPlan,
  type LocalRunnerOptions,
  loadPlanFile,
  localExperimentRunner,
  planSteps,
} from './local.js';
export {
  type DecisionStep,
  durationMs,
  type ExperimentStep,
  GAMEDAY_SCHEMA_ID,
  type GameDayPlan,
  GameDayPlanSchema,
  type GameDayStep,
  type ManualStep,
  type Measure,
  PARTICIPANT_ROLES,
  type ParticipantRole,
  parsePlan,
  participantsFor,
  planJsonSchema,
  type SuccessCriterion,
  validatePlan,
  type WaitStep,
} from './plan.js';
export { describeEvent, type FollowUp, planFollowUps, renderGameDayReport } from './report.js';
export {
  type Choice,
  type Confirmation,
  type GameDayExecutor,
  GameDaySession,
  type GameDaySessionOptions,
  type GameDayState,
  type GameDayStatus,
  gameDayExitCode,
  type Judgement,
  type StepOutcome,
  StepSkipped,
} from './session.js';
export {
  type CriterionResult,
  type StepRun,
  TIMELINE_EVENT_TYPES,
  type TimelineEvent,
  type TimelineEventType,
} from './types.js';
