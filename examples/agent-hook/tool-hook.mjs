#!/usr/bin/env node
// An agent runtime hook: every tool call the agent makes emits one Warden
// event (who, which tool, on what, how it went). Build first: npx tsc -p tsconfig.json
import { createProducer } from 'warden/producer';

/**
 * Wraps `tool` so each call is reported. `resourceOf(args)` names what the
 * call touches. The event does not hold up the tool's answer; a failed
 * delivery is reported to `onError` (send() rejects with a WardenError whose
 * `retriable` says whether trying again can help).
 */
export function withWarden(producer, agent, action, resourceOf, tool, onError = (err) => console.error(`warden: ${err.code}: ${err.message}`)) {
  return async (...args) => {
    const ts = Date.now();
    let outcome = 'allowed';
    try {
      return await tool(...args);
    } catch (err) {
      outcome = 'error';
      throw err;
    } finally {
      const { identity, chain, instance, task } = agent;
      producer.send({ ts, identity, chain, instance, task, action, resource: resourceOf(...args), outcome }).catch(onError);
    }
  };
}

// Run directly: a toy agent makes three tool calls, then the producer delivers and closes.
if (import.meta.url === `file://${process.argv[1]}`) {
  const env = process.env;
  const producer = createProducer({ brokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), topic: env.WARDEN_TOPIC_ACTIONS ?? 'agent.actions' });
  const agent = { identity: env.AGENT_IDENTITY ?? 'spiffe://acme.example/agent/support-bot/7f3a', instance: 'pod-1', task: 'ticket-4711' };
  const readCustomer = withWarden(producer, agent, 'crm.read', (id) => `crm:customers/${id}`, async (id) => ({ id, name: 'Ada' }));
  const sendEmail = withWarden(producer, agent, 'email.send', (to) => `email:customer/${to}`, async (to) => {
    if (!to.includes('@')) throw new Error(`not an address: ${to}`);
    return { sent: true };
  });
  await readCustomer(42);
  await sendEmail('ada@example.com');
  await sendEmail('nobody').catch(() => {});
  await producer.close(); // delivers what is still buffered
  console.log(JSON.stringify(producer.stats()));
}
