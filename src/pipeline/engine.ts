import { advance, offend, parseRecord, serializeRecord, type BreakerRecord } from '../breaker/breaker.js';
import { applyControl } from '../breaker/operator.js';
import { stamp } from '../breaker/sequence.js';
import type { BreakerCommand } from '../breaker/types.js';
import type { Keyring } from '../commands/keyring.js';
import { verifyControl } from '../control/sign.js';
import type { OperatorControl } from '../control/types.js';
import { WHOLE_IDENTITY } from '../breaker/types.js';
import { createResolver } from '../config/resolve.js';
import type { WardenConfig } from '../config/types.js';
import type { AnyDetector, Decision, Detection, DetectorCommon, DetectorContext, Finding } from '../detector.js';
import { WardenError, type ErrorCode } from '../errors.js';
import type { AgentEvent } from '../event/types.js';
import type { FleetStore } from '../state/fleet.js';
import type { ClassTrack, StateUpdate, Track, WindowStore } from '../state/types.js';
import type { ClassStore } from '../state/class-store.js';
import { AbsenceBook, type Overdue } from './absence.js';
import { ClassBatch } from './class-batch.js';
import { isCold, learningPeriodOf } from './cold.js';
import { suppress } from './suppress.js';
import { builtinDetectors } from '../../detectors/index.js';
import type { BatchOutput, DeadLetter, OutputItem } from './outputs.js';
import { classOf, FleetBatch } from './fleet-batch.js';
import type { OutboxEncoder } from './outbox.js';
import type { Forwarded } from './forward.js';

/** Set by the service (src/service/route.ts) on a valid record. */
interface Routing {
  /** Its identity is owned by another partition: it goes there (value bytes unchanged) instead of being counted here. */
  forward?: { partition: number; value: Uint8Array };
  /** Another partition forwarded it here: the store counts it once per source offset. */
  forwarded?: Forwarded;
}

export type InputRecord =
  | ({ offset: bigint; ok: true; event: AgentEvent; control?: undefined } & Routing)
  /** An operator control, shape-checked; the engine verifies its signature. */
  | ({ offset: bigint; ok: true; control: OperatorControl; event?: undefined; raw?: Uint8Array; key?: Uint8Array; headers?: Record<string, string> } & Routing)
  | { offset: bigint; ok: false; error: { code: ErrorCode; field?: string; message: string }; raw?: Uint8Array; key?: Uint8Array; headers?: Record<string, string> };

export interface EngineOptions {
  config: WardenConfig;
  store: WindowStore;
  /** Default: the built-in registry. Each must have its config in `config.detectors` (load the config with the same list). */
  detectors?: readonly AnyDetector[];
  /** When set, outputs are written to the store's outbox atomically with the state (the service). */
  outbox?: OutboxEncoder;
  /** Verifies operator controls; without it every control is invalid (CONTROL_UNVERIFIABLE). */
  operatorKeys?: Keyring;
  /** Cross-partition class counts for the fleet guard; without it the guard is off. */
  fleet?: FleetStore;
  /** Class counters (peer groups) for detectors that keep them; without it `view.peers` is never set. */
  classes?: ClassStore;
}

/**
 * One partition batch at a time: validated events → tracks → one store call →
 * detectors → breaker → one commit. Identical for the embedded pipeline and
 * the Kafka service, which is why replay and live give the same decisions.
 */
export class Engine {
  private config: WardenConfig;
  /** Whether any config (base or override) judges orphans: only then are whole-identity suspensions shared. */
  private cascades = false;
  private resolve: (e: { identity: string; agentClass?: string }) => DetectorContext;
  private readonly store: WindowStore;
  private readonly detectors: readonly AnyDetector[];
  private readonly outbox: OutboxEncoder | undefined;
  private readonly operatorKeys: Keyring | undefined;
  private readonly fleet: FleetStore | undefined;
  private readonly classes: ClassStore | undefined;
  /** Wall time the store's state was lost (the service's epoch check); null in replay, which loses nothing. */
  private lostAt: number | null = null;
  private readonly absences = new Map<string, AbsenceBook>();
  private readonly absent: readonly AnyDetector[];

  constructor(opts: EngineOptions) {
    this.operatorKeys = opts.operatorKeys;
    this.fleet = opts.fleet;
    this.classes = opts.classes;
    this.detectors = opts.detectors ?? builtinDetectors;
    this.absent = this.detectors.filter((d) => d.absence !== undefined);
    checkConfigured(this.detectors, opts.config);
    this.config = opts.config;
    this.cascades = judgesOrphans(opts.config);
    this.resolve = createResolver(opts.config);
    this.store = opts.store;
    this.outbox = opts.outbox;
  }

  get currentConfig(): WardenConfig {
    return this.config;
  }

  /** The state was lost at this wall time: detections of identities re-learning since carry `evidence.cold`. */
  setStateLoss(lostAt: number | null): void {
    this.lostAt = lostAt;
  }

  /** Partitions this process no longer consumes: what they expected of their identities is another's now. */
  forgetExcept(partitions: readonly string[]): void {
    for (const p of [...this.absences.keys()]) if (!partitions.includes(p)) this.absences.delete(p);
  }

  /** Swap in a validated config; the next batch uses it. */
  setConfig(config: WardenConfig): void {
    checkConfigured(this.detectors, config);
    this.config = config;
    this.cascades = judgesOrphans(config);
    this.resolve = createResolver(config);
  }

  async process(partition: string, input: readonly InputRecord[]): Promise<BatchOutput> {
    try {
      return await this.batch(partition, input);
    } catch (err) {
      // The batch will come again: what it taught the absence book must not count twice, nor its findings go untold.
      this.absences.delete(partition);
      throw err;
    }
  }

  private async batch(partition: string, input: readonly InputRecord[]): Promise<BatchOutput> {
    const config = this.config;
    const resolve = this.resolve;
    const records = this.verifyControls(input);
    const updates: StateUpdate[] = [];
    const contexts: Array<DetectorContext | undefined> = [];
    const fleet = this.fleet ? new FleetBatch(this.fleet, config.breaker.fleetGuard, this.cascades) : undefined;
    const peers = this.classes ? new ClassBatch(this.classes, config.breaker.fleetGuard.activeWindowMs) : undefined;
    const classTracks: Array<readonly ClassTrack[]> = [];
    for (const r of records) {
      if (!r.ok || r.forward) continue;
      if (r.control) {
        // No tracks: a control changes only the breaker, but it takes its place in the identity's order.
        contexts.push(undefined);
        classTracks.push(NONE);
        updates.push(withForwarded({ offset: r.offset, identity: r.control.identity, ts: r.control.ts, tracks: [] }, r.forwarded));
        continue;
      }
      const ctx = resolve(r.event);
      contexts.push(ctx);
      updates.push(withForwarded({ offset: r.offset, identity: r.event.identity, ts: r.event.ts, tracks: this.tracks(r.event, ctx) }, r.forwarded));
      fleet?.note(classOf(ctx), r.event.identity, r.event.ts);
      // Only where the chain detector judges orphans: otherwise the question costs a command per batch for nothing.
      if (ctx.config.chain.orphans && ctx.config.chain.enabled) fleet?.watch(r.event.chain, r.event.ts);
      if (peers) {
        const ct = this.classTracks(r.event, ctx);
        classTracks.push(ct);
        peers.note(classOf(ctx), r.event.identity, r.event.ts, ct);
      }
    }
    const [{ outcomes, committed }] = await Promise.all([this.store.apply({ partition, updates }), fleet?.observe(), peers?.observe()]);

    const items: OutputItem[] = [];
    let book = this.absent.length > 0 ? this.absences.get(partition) : undefined;
    if (this.absent.length > 0 && !book) this.absences.set(partition, (book = new AbsenceBook()));
    const overdue: Overdue[] = [];
    const breakers = new Map<string, BreakerRecord>();
    const touched = new Set<string>();
    let processed = 0;
    let skipped = 0;
    let invalid = 0;
    let forwarded = 0;
    let u = 0;
    for (const r of records) {
      if (r.ok && r.forward) {
        // Like a dead letter: no state here, an output committed with the offset.
        if (committed !== null && r.offset <= committed) {
          skipped++;
          continue;
        }
        forwarded++;
        const identity = r.control ? r.control.identity : r.event.identity;
        items.push({ kind: 'forward', forward: { offset: r.offset, to: r.forward.partition, identity, value: r.forward.value } });
        continue;
      }
      if (!r.ok) {
        if (committed !== null && r.offset <= committed) {
          skipped++;
          continue;
        }
        invalid++;
        const dl: DeadLetter = { offset: r.offset, code: r.error.code, message: r.error.message };
        if (r.error.field !== undefined) dl.field = r.error.field;
        if (r.raw) dl.raw = r.raw;
        if (r.headers) dl.headers = r.headers;
        if (r.key) dl.key = r.key;
        items.push({ kind: 'dead-letter', deadLetter: dl });
        continue;
      }
      const outcome = outcomes[u]!;
      const ctx = contexts[u];
      const ct = classTracks[u];
      u++;
      if (outcome.status === 'done') {
        skipped++;
        continue;
      }
      processed++;
      const identity = r.control ? r.control.identity : r.event.identity;
      let record = breakers.get(identity);
      if (!record) {
        record = parseRecord(outcome.breaker);
        breakers.set(identity, record);
        if (outcome.breaker) touched.add(identity);
      }
      const state = record.state;
      if (r.control) {
        touched.add(identity);
        this.control(record, r.control, items, fleet);
        continue;
      }
      const event = r.event;
      const dctx = fleet && event.chain && event.chain.length > 0 && (ctx as DetectorContext).config.chain.orphans
        ? { ...(ctx as DetectorContext), cascadeOf: (id: string) => fleet.cascadeOf(id) }
        : (ctx as DetectorContext);
      if (book) {
        book.advance(event.ts, overdue);
        this.told(overdue, items);
      }
      if (peers) outcome.view.peers = peers.peersAt(classOf(dctx), event.ts, ct ?? NONE);
      for (const command of advance(state, event.identity, event.ts, config.breaker)) {
        items.push(stamped(record, command));
        fleet?.commanded(command);
      }
      for (const d of this.detectors) {
        if (!configOf(dctx, d).enabled) continue;
        const findings = d.detect(event, outcome.view, dctx);
        for (const f of findings) {
          let detection = this.toDetection(d, f, event, dctx);
          if (fleet) detection = fleet.check(state, detection, classOf(dctx));
          if (this.lostAt !== null && isCold(this.lostAt, outcome.view.firstSeen, event.ts, learningPeriodOf(dctx.config))) detection.evidence.cold = true;
          const command = offend(state, detection, config.breaker);
          const held = suppress((record.quiet ??= {}), detection, command !== null, config.suppression ?? NO_SUPPRESSION);
          touched.add(event.identity);
          if (held !== undefined) {
            if (held) detection.evidence.suppressed = held;
            items.push({ kind: 'detection', detection, commandId: command ? command.commandId : null });
          }
          if (command) {
            touched.add(event.identity);
            items.push(stamped(record, command));
            fleet?.suspended(classOf(dctx), event.identity, command.until!);
            fleet?.commanded(command);
          }
        }
      }
      if (book) {
        for (const d of this.absent) if (configOf(dctx, d).enabled) book.heard(d, event, outcome.view, dctx, overdue);
        this.told(overdue, items);
      }
    }

    const lastOffset = records.length > 0 ? records[records.length - 1]!.offset : null;
    if (lastOffset !== null && (processed > 0 || invalid > 0 || forwarded > 0)) {
      const snapshots = new Map<string, string>();
      for (const id of touched) snapshots.set(id, serializeRecord(breakers.get(id)!));
      await fleet?.record();
      await this.store.commit({
        partition,
        offset: lastOffset,
        breakers: snapshots,
        outbox: this.outbox ? this.outbox.encode(items, partition) : [],
      });
    }
    return { items, processed, skipped, invalid, forwarded, lastOffset };
  }

  /** Silences that became findings: alerts, stamped with the time they became due, never commands. */
  private told(overdue: Overdue[], items: OutputItem[]): void {
    for (const o of overdue) {
      const detection = this.toDetection(o.detector, { ...o.finding, alertOnly: true }, o.last, o.ctx);
      detection.ts = o.at;
      items.push({ kind: 'detection', detection, commandId: null });
    }
    overdue.length = 0;
  }

  /** Controls whose signature does not verify become invalid records, for the dead-letter topic. */
  private verifyControls(records: readonly InputRecord[]): readonly InputRecord[] {
    let out: InputRecord[] | undefined;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (!r.ok || !r.control) continue;
      const v = verifyControl(r.control, this.operatorKeys);
      if (v.ok) continue;
      out ??= records.slice();
      // Refused: to the dead-letter topic with its own bytes, like any invalid record.
      const bad: InputRecord = { offset: r.offset, ok: false, error: { code: v.code, message: v.reason } };
      if (r.raw) bad.raw = r.raw;
      if (r.headers) bad.headers = r.headers;
      if (r.key) bad.key = r.key;
      out[i] = bad;
    }
    return out ?? records;
  }

  private control(record: BreakerRecord, c: OperatorControl, items: OutputItem[], fleet: FleetBatch | undefined): void {
    const cfg = this.config.breaker;
    const commands = advance(record.state, c.identity, c.ts, cfg, false);
    const effect = applyControl(record.state, c, cfg);
    commands.push(...effect.commands);
    for (const command of commands) {
      items.push(stamped(record, command));
      fleet?.commanded(command);
    }
    items.push({
      kind: 'control',
      control: {
        controlId: c.id, op: c.op, identity: c.identity, scope: c.scope, operator: c.operator, reason: c.reason,
        ts: c.ts, kid: c.kid, result: effect.result, detail: effect.detail, commandIds: effect.commands.map((x) => x.commandId),
      },
    });
  }

  private tracks(event: AgentEvent, ctx: DetectorContext): Track[] {
    // Detectors may return shared arrays: copy before appending, never mutate theirs.
    let all: Track[] | undefined;
    let owned = false;
    for (const d of this.detectors) {
      if (!configOf(ctx, d).enabled) continue;
      const t = d.track(event, ctx);
      if (t.length === 0) continue;
      if (!all) all = t;
      else if (!owned) {
        all = all.concat(t);
        owned = true;
      } else for (const x of t) all.push(x);
    }
    return all ?? [];
  }

  private classTracks(event: AgentEvent, ctx: DetectorContext): readonly ClassTrack[] {
    let all: ClassTrack[] | undefined;
    for (const d of this.detectors) {
      if (!d.classTrack || !configOf(ctx, d).enabled) continue;
      const t = d.classTrack(event, ctx);
      if (t.length > 0) all = all ? all.concat(t) : t;
    }
    return all ?? NONE;
  }

  private toDetection(d: AnyDetector, f: Finding, event: AgentEvent, ctx: DetectorContext): Detection {
    const cfg = configOf(ctx, d);
    const rule = cfg.rules[f.rule];
    const mode = rule?.mode ?? cfg.mode;
    const decision: Decision = f.alertOnly || mode === 'alert' ? 'alert' : 'suspend';
    const scope = (f.scope ?? cfg.scope) === 'identity' ? WHOLE_IDENTITY : event.action;
    return {
      identity: event.identity,
      detector: d.name,
      rule: f.rule,
      severity: rule?.severity ?? f.severity,
      decision,
      mode,
      scope,
      ts: event.ts,
      eventId: event.id,
      action: event.action,
      resource: event.resource,
      chain: event.chain ?? [],
      // The class it was judged as: a bound identity's, not what its event claims.
      agentClass: ctx.manifest?.agentClass ?? event.agentClass ?? null,
      reason: f.reason,
      evidence: { ...f.evidence, configVersion: ctx.configVersion },
    };
  }
}

function withForwarded(u: StateUpdate, f: Forwarded | undefined): StateUpdate {
  if (f) u.forwarded = f;
  return u;
}

const NO_SUPPRESSION = Object.freeze({ windowMs: 0, maxGroups: 1 });
const NONE: readonly ClassTrack[] = Object.freeze([]) as readonly ClassTrack[];

function configOf(ctx: DetectorContext, d: AnyDetector): DetectorCommon {
  return (ctx.config as unknown as Record<string, DetectorCommon>)[d.name]!;
}

/** A detector without config would crash on its first event: refuse it up front, naming the fix. */
function checkConfigured(detectors: readonly AnyDetector[], config: WardenConfig): void {
  const known = config.detectors as unknown as Record<string, unknown>;
  const missing = detectors.filter((d) => known[d.name] === undefined).map((d) => d.name);
  if (missing.length > 0) {
    throw new WardenError(
      'ENGINE_DETECTOR_UNCONFIGURED',
      `detector${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ha${missing.length > 1 ? 've' : 's'} no config: load the config with the same detectors (validateConfigDir(dir, { detectors }))`,
    );
  }
}

/** Every command takes the identity's next seq, stored with the commit that publishes it. */
function stamped(record: BreakerRecord, command: BreakerCommand): OutputItem {
  return { kind: 'command', command: stamp(record, command) };
}

/** Orphans on in the base config or in any override (an override may turn them on for one class). */
function judgesOrphans(config: WardenConfig): boolean {
  return config.detectors.chain.orphans || config.overrides.some((o) => o.detectors.chain?.orphans === true);
}
