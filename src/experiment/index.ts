/** Loading, configuration, validation and the JSON Schema of experiments. */

export { MAX_NESTING_DEPTH, MAX_SOURCE_BYTES } from '../core/parse.js';
export { type DocPath, formatPath, type Position } from '../core/positions.js';
export {
  type ConfigWarning,
  ConversionError,
  convertValue,
  type DynamicProbe,
  type EnvVarType,
  isDynamicProbe,
  isEnvDefinition,
  type ResolveConfigurationOptions,
  type ResolveSecretsOptions,
  resolveConfiguration,
  resolveConfigurationEnv,
  resolveSecrets,
  undeclaredOverrides,
  VALUE_TYPES,
} from './configuration.js';
export { defineExperiment } from './define.js';
export { EXPERIMENT_SCHEMA_ID, experimentJsonSchema } from './json-schema.js';
export { type LoadedSource, type LoadOptions, loadExperimentSource, SUPPORTED_EXTENSIONS } from './load.js';
export { mergeVars, substitute, substituteString, type Vars } from './substitute.js';
export {
  assertValidExperiment,
  MAX_ISSUES,
  type ValidateOptions,
  type ValidationResult,
  validateExperiment,
} from './validate.js';
export {
  loadVarFiles,
  mergeOverrides,
  type Overrides,
  parseEnvFile,
  parseVarOption,
  type VarOption,
} from './vars.js';
