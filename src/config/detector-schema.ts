import type { DetectorCommon, RuleSettings } from '../detector.js';
import { boolean, object, oneOf, type Out, type Schema, type Shape } from './schema.js';

export const MODES = ['shadow', 'alert', 'enforce'] as const;
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;

/** `rules: { <rule>: { mode, severity } }`, each optional, keys limited to the detector's rules. */
function rulesSchema(rules: readonly string[]): Schema<Record<string, RuleSettings>> {
  const setting = object({ mode: oneOf(MODES).optional(), severity: oneOf(SEVERITIES).optional() }).optional();
  return object(Object.fromEntries(rules.map((r) => [r, setting]))) as unknown as Schema<Record<string, RuleSettings>>;
}

/** A detector's schema: the keys every detector has, then its own. */
export function detectorSchema<S extends Shape>(rules: readonly string[], shape: S): Schema<DetectorCommon & Out<S>> {
  return object({
    enabled: boolean(),
    mode: oneOf(MODES),
    severity: oneOf(SEVERITIES),
    scope: oneOf(['identity', 'action']),
    rules: rulesSchema(rules),
    ...shape,
  }) as unknown as Schema<DetectorCommon & Out<S>>;
}
