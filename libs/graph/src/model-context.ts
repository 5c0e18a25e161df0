// A `seqLen` longer than the context of a model it feeds would fail only after the run started (the
// position table has `ctx` rows). The model's context is known at validate time: it is fixed where the
// model is created (a `model` param: a preset name or a config with `ctx`) and carried unchanged by every
// node that trains a Model input into a Model output. This check follows that flow over the expanded DAG.
import type { Diagnostic, SourceMap } from './diagnostics';
import { pointerOf } from './diagnostics';
import type { ExpandedNode } from './expand';
import type { SignatureRegistry } from './signatures';

/** The context length of a preset name (the CLI knows the presets of libs/lm); undefined when unknown. */
export type PresetContext = (preset: string) => number | undefined;

/** The context a `model` param fixes: a config object's `ctx`, or the preset's. */
export function contextOfModelParam(model: unknown, presetContext: PresetContext | undefined): number | undefined {
  if (typeof model === 'string') return presetContext?.(model);
  if (model !== null && typeof model === 'object' && typeof (model as { ctx?: unknown }).ctx === 'number')
    return (model as { ctx: number }).ctx;
  return undefined;
}

/**
 * Diagnostics for every node whose `seqLen` exceeds the context of a model on one of its Model inputs.
 * A model of unknown context (a checkpoint loaded by name, an unknown preset) is not checked here; the
 * node still checks at run time.
 */
export function seqLenDiagnostics(
  nodes: readonly ExpandedNode[],
  signatures: SignatureRegistry,
  map: SourceMap,
  presetContext?: PresetContext,
): Diagnostic[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const modelPorts = (n: ExpandedNode) =>
    Object.entries(signatures.get(n.type)?.inputs ?? {})
      .filter(([port, spec]) => spec.kind === 'Model' && port !== '*')
      .map(([port]) => port);
  const memo = new Map<string, number | undefined>();
  /** The context of the Model `n` outputs: fixed by its `model` param, else carried from its first Model input. */
  const outputContext = (n: ExpandedNode): number | undefined => {
    if (memo.has(n.id)) return memo.get(n.id);
    let ctx: number | undefined;
    if (n.params.model !== undefined) ctx = contextOfModelParam(n.params.model, presetContext);
    else {
      const port = modelPorts(n).find((p) => n.inputs[p]);
      const up = port ? byId.get(n.inputs[port]!.node) : undefined;
      ctx = up ? outputContext(up) : undefined;
    }
    memo.set(n.id, ctx);
    return ctx;
  };

  const out: Diagnostic[] = [];
  const reported = new Set<string>();
  for (const n of nodes) {
    const seqLen = n.params.seqLen;
    if (typeof seqLen !== 'number') continue;
    const checks: Array<{ port: string; ctx: number }> = [];
    // The node's own model, when it creates one (Pretrain), then every Model input.
    const own = n.params.model !== undefined ? contextOfModelParam(n.params.model, presetContext) : undefined;
    if (own !== undefined) checks.push({ port: 'model (param)', ctx: own });
    for (const port of modelPorts(n)) {
      const up = n.inputs[port] ? byId.get(n.inputs[port]!.node) : undefined;
      const ctx = up ? outputContext(up) : undefined;
      if (ctx !== undefined) checks.push({ port: `input \`${port}\``, ctx });
    }
    const tightest = checks.sort((a, b) => a.ctx - b.ctx)[0];
    if (!tightest || seqLen <= tightest.ctx) continue;
    const pointer = pointerOf(['nodes', n.baseId, 'params', 'seqLen']);
    const message = `${n.type} node ${n.id}: seqLen ${seqLen} exceeds the context ${tightest.ctx} of the model on ${tightest.port}`;
    if (reported.has(`${pointer}\u0000${message}`)) continue;
    reported.add(`${pointer}\u0000${message}`);
    out.push(
      map.diagnostic(pointer, message, {
        expected: `seqLen <= ${tightest.ctx}`,
        hint: `set "seqLen": ${tightest.ctx} (or less) in this node's params`,
      }),
    );
  }
  return out;
}

/**
 * The `seqLen` a node gets when its params leave it out: the tightest context among the model it creates
 * (its `model` param) and the models on its Model inputs (`inputContexts`), so a `tiny` model (context 64)
 * trains on 64-token windows without the graph saying so. Undefined when no context is known (a checkpoint
 * loaded by name): the schema's default then stands.
 */
export function defaultSeqLen(
  modelParam: unknown,
  inputContexts: Array<number | undefined>,
  presetContext: PresetContext | undefined,
): number | undefined {
  const known = [contextOfModelParam(modelParam, presetContext), ...inputContexts].filter((c): c is number => c !== undefined);
  return known.length ? Math.min(...known) : undefined;
}
