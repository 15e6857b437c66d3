import { WardenError } from '../errors.js';
import type { KafkaSettings } from './kafka-client.js';

/**
 * The KAFKA_* connection variables (brokers, TLS, SASL) under the rules
 * README "Environment" gives; what is wrong is appended to `problems`. Shared
 * by `warden run`'s settings and the tools that only publish.
 */
export function kafkaConnectionFromEnv(env: NodeJS.ProcessEnv, problems: string[]): Pick<KafkaSettings, 'brokers' | 'ssl' | 'sasl'> {
  const brokers = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
  for (const b of brokers) if (!/^[^\s:]+:\d{1,5}$/.test(b)) problems.push(`KAFKA_BROKERS: "${b}" is not host:port`);
  const rawSsl = (env.KAFKA_SSL ?? '').toLowerCase();
  const ssl = rawSsl === '1' || rawSsl === 'true' || rawSsl === 'yes';
  if (!ssl && !['', '0', 'false', 'no'].includes(rawSsl)) problems.push(`KAFKA_SSL must be true or false, got "${env.KAFKA_SSL}"`);
  let sasl: KafkaSettings['sasl'] = null;
  const mechanism = env.KAFKA_SASL_MECHANISM?.toLowerCase();
  if (mechanism) {
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      problems.push(`KAFKA_SASL_MECHANISM must be plain, scram-sha-256 or scram-sha-512, got "${env.KAFKA_SASL_MECHANISM}"`);
    } else if (!env.KAFKA_SASL_USERNAME || !env.KAFKA_SASL_PASSWORD) {
      problems.push('KAFKA_SASL_MECHANISM is set: KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required');
    } else {
      sasl = { mechanism, username: env.KAFKA_SASL_USERNAME, password: env.KAFKA_SASL_PASSWORD };
    }
  }
  return { brokers, ssl, sasl };
}

/** The Kafka connection of a tool that only publishes (no command keys, no Redis). */
export function kafkaSettingsFromEnv(env: NodeJS.ProcessEnv, clientId: string): KafkaSettings {
  const problems: string[] = [];
  const connection = kafkaConnectionFromEnv(env, problems);
  if (problems.length > 0) throw new WardenError('SETTINGS_INVALID', `invalid environment: ${problems.join('; ')}`);
  return { ...connection, clientId: env.KAFKA_CLIENT_ID ?? clientId };
}
