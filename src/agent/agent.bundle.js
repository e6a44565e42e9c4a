// Generated from src/agent/ by esbuild (npx projen bundle:agent): do not edit.
"use strict";
var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};
var __commonJS = (cb, mod) => function __require() {
  try {
    return mod || (0, cb[__getOwnPropNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;
  } catch (e) {
    throw mod = 0, e;
  }
};
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));
var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);

// src/agent/failover-target.ts
function parseLsn(lsn) {
  if (!LSN.test(lsn)) return void 0;
  const [high, low] = lsn.split("/");
  return BigInt(`0x${high}`) * 0x100000000n + BigInt(`0x${low}`);
}
function healthyReplicas(candidates) {
  return candidates.filter((c) => c.role === "replica" && parseLsn(c.lsn) !== void 0);
}
function rankCandidates(candidates) {
  return healthyReplicas(candidates).sort((a, b) => Number(parseLsn(b.lsn) - parseLsn(a.lsn)));
}
function ordinalOf(pod) {
  return Number(pod.slice(pod.lastIndexOf("-") + 1));
}
function staying(candidates, scaleDownTo) {
  return candidates.filter((c) => ordinalOf(c.pod) < scaleDownTo);
}
function describe(candidates) {
  return candidates.map((c) => `${c.pod}=${c.role}@${c.lsn}`).join(" ");
}
function eligibleReplicas(facts) {
  const byPod = new Map(facts.candidates.map((c) => [c.pod, c]));
  if (facts.syncReplicas === 0 || facts.acceptDataLoss || byPod.get(facts.previous)?.role === "replica") {
    return { ok: true, candidates: healthyReplicas(facts.candidates) };
  }
  const members = facts.syncSet.length;
  const reached = healthyReplicas(facts.syncSet.map((pod) => byPod.get(pod)).filter((c) => c !== void 0));
  const needed = members - facts.syncReplicas + 1;
  if (members === 0 || reached.length < needed) {
    return {
      ok: false,
      reason: `synchronous mode: ${reached.length} of the ${members} recorded synchronous standbys (${facts.syncSet.join(",") || "none"}) answer; ${needed} are needed to be sure of every acknowledged commit`
    };
  }
  return { ok: true, candidates: reached };
}
function chooseFailoverTarget(facts) {
  const requested = facts.requestedTarget;
  const cluster = describe(facts.candidates);
  if (facts.candidates.some((c) => c.pod === requested && c.role === "primary")) {
    return { kind: "promote", target: requested, reason: `${requested} was promoted already (by the job that ended): recording it`, warning: void 0 };
  }
  const ranked = rankCandidates(facts.candidates);
  if (ranked.length === 0) return { kind: "refuse", reason: `no healthy replica to promote (${cluster})` };
  const eligible = eligibleReplicas(facts);
  if (!eligible.ok || eligible.candidates.length === 0) {
    return {
      kind: "refuse",
      reason: `${eligible.ok ? "" : `${eligible.reason}. `}no replica may be promoted without losing acknowledged commits (${cluster}). Bring back the missing pods and run the job again, or set FAILOVER_ACCEPT_DATA_LOSS=true to promote the most advanced replica anyway`
    };
  }
  let candidates = eligible.candidates;
  if (facts.scaleDownTo !== void 0 && requested === void 0) {
    candidates = staying(candidates, facts.scaleDownTo);
    if (candidates.length === 0) return { kind: "refuse", reason: `no replica that stays after scaling to ${facts.scaleDownTo} pods may be promoted (${cluster})` };
  }
  let target;
  if (requested !== void 0) {
    const found = candidates.find((c) => c.pod === requested);
    if (found === void 0) {
      const role = facts.candidates.find((c) => c.pod === requested)?.role ?? "not a pod";
      return { kind: "refuse", reason: `FAILOVER_TARGET ${requested} may not be promoted (${role}; eligible: ${candidates.map((c) => c.pod).join(" ")})` };
    }
    target = found;
  } else {
    target = rankCandidates(candidates)[0];
  }
  const best = ranked[0];
  const warning = parseLsn(best.lsn) > parseLsn(target.lsn) ? `${best.pod} has more WAL than ${target.pod}; what only ${best.pod} has is lost, and ${best.pod} is rewound when it restarts` : void 0;
  return { kind: "promote", target: target.pod, reason: `promoting ${target.pod} (WAL ${target.lsn}) of ${candidates.map((c) => c.pod).join(" ")}`, warning };
}
function chooseScaleDownTarget(candidates, primary, scaleDownTo) {
  if (ordinalOf(primary) < scaleDownTo) return { kind: "stay", reason: `the primary ${primary} stays when scaling to ${scaleDownTo} pods` };
  const [target] = rankCandidates(staying(candidates, scaleDownTo));
  if (target === void 0) {
    return { kind: "refuse", reason: `the primary ${primary} goes away when scaling to ${scaleDownTo} pods, and no healthy replica stays to take over (${describe(candidates)})` };
  }
  return { kind: "promote", target: target.pod, reason: `the primary ${primary} goes away when scaling to ${scaleDownTo} pods: switching over to ${target.pod}`, warning: void 0 };
}
function switchpointOf(history, timeline) {
  return historyEntries(history).find((entry) => entry.parent === timeline)?.switchpoint;
}
function historyFileName(timeline) {
  return `${timeline.toString(16).toUpperCase().padStart(8, "0")}.history`;
}
function timelineSwitchpoint(history) {
  const entries = historyEntries(history);
  return entries.length === 0 ? void 0 : entries[entries.length - 1].switchpoint;
}
function historyEntries(history) {
  const entries = [];
  for (const line of history.split("\n")) {
    const [parent, switchpoint] = line.trim().split(/\s+/);
    if (/^\d+$/.test(parent) && parseLsn(switchpoint ?? "") !== void 0) entries.push({ parent: Number(parent), switchpoint });
  }
  return entries;
}
function forkedBehind(history, timeline, position) {
  const switchpoint = switchpointOf(history, timeline);
  const at = parseLsn(position);
  return switchpoint !== void 0 && at !== void 0 && at > parseLsn(switchpoint);
}
var LSN;
var init_failover_target = __esm({
  "src/agent/failover-target.ts"() {
    "use strict";
    LSN = /^[0-9A-F]+\/[0-9A-F]+$/;
  }
});

// src/agent/record.ts
function annotationOf(field) {
  return `${RECORD_PREFIX}/${field}`;
}
function refuse(field, problem) {
  throw new RecordError(`${annotationOf(field)} ${problem}`);
}
function decodeRecord(lease) {
  try {
    return decodeOrThrow(lease);
  } catch (error) {
    if (error instanceof RecordError) return { ok: false, error: `malformed leader record: ${error.message}` };
    throw error;
  }
}
function decodeOrThrow(lease) {
  const { resourceVersion, annotations = {} } = lease?.metadata ?? {};
  if (typeof resourceVersion !== "string" || resourceVersion === "") {
    throw new RecordError("metadata.resourceVersion is missing: a record without one cannot be compared-and-swapped");
  }
  if (typeof annotations !== "object" || annotations === null || Array.isArray(annotations)) {
    throw new RecordError("metadata.annotations is not an object");
  }
  const values = /* @__PURE__ */ new Map();
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(`${RECORD_PREFIX}/`)) continue;
    if (!KNOWN_ANNOTATIONS.has(key)) throw new RecordError(`${key} is not a field of the record`);
    if (typeof value !== "string") throw new RecordError(`${key} is not a string`);
    values.set(key, value);
  }
  const text = (field) => values.get(annotationOf(field)) ?? "";
  const version = text(VERSION_FIELD);
  if (version !== "" && version !== String(RECORD_FORMAT_VERSION)) {
    refuse(VERSION_FIELD, `is unknown: "${version}" (this agent reads version ${RECORD_FORMAT_VERSION})`);
  }
  const common = {
    version: RECORD_FORMAT_VERSION,
    epoch: positiveInteger("epoch", text("epoch")),
    timeline: positiveInteger("timeline", text("timeline")),
    systemIdentifier: systemIdentifier(text("system-identifier")),
    sync: podList("sync", text("sync"))
  };
  const state = text("state");
  let record;
  switch (state) {
    case "stable":
      mustBeEmpty(state, ["target", "previous", "job", "checkpoint"], text);
      record = { state, primary: required("primary", text("primary"), state), ...common };
      break;
    case "switching-over":
      mustBeEmpty(state, ["primary"], text);
      record = {
        state,
        previous: required("previous", text("previous"), state),
        target: required("target", text("target"), state),
        job: required("job", text("job"), state),
        checkpoint: checkpoint(text("checkpoint")),
        ...common
      };
      break;
    case "failing-over":
      mustBeEmpty(state, ["primary", "checkpoint"], text);
      record = {
        state,
        previous: required("previous", text("previous"), state),
        target: text("target") || void 0,
        job: required("job", text("job"), state),
        ...common
      };
      break;
    case "":
      refuse("state", "is missing");
    default:
      refuse("state", `is unknown: "${state}" (known: ${RECORD_STATES.join(", ")})`);
  }
  return { ok: true, record, resourceVersion };
}
function positiveInteger(field, value) {
  if (value === "") refuse(field, "is missing");
  const number = Number(value);
  if (!DECIMAL_PATTERN.test(value) || !Number.isSafeInteger(number) || number < 1) {
    refuse(field, `is not a positive integer: "${value}"`);
  }
  return number;
}
function systemIdentifier(value) {
  if (value === "") return void 0;
  if (!DECIMAL_PATTERN.test(value)) refuse("system-identifier", `is not a decimal number: "${value}"`);
  return value;
}
function checkpoint(value) {
  if (value === "") return void 0;
  if (!LSN_PATTERN.test(value)) refuse("checkpoint", `is not an LSN such as 0/3000028: "${value}"`);
  return value;
}
function podList(field, value) {
  if (value === "") return [];
  const pods = value.split(",");
  const seen = /* @__PURE__ */ new Set();
  for (const pod of pods) {
    if (pod === "") refuse(field, `has an empty member: "${value}"`);
    if (seen.has(pod)) refuse(field, `lists ${pod} twice: "${value}"`);
    seen.add(pod);
  }
  return pods;
}
function required(field, value, state) {
  if (value === "") refuse(field, `is missing (state ${state} needs it)`);
  return value;
}
function mustBeEmpty(state, fields, text) {
  for (const field of fields) {
    if (text(field) !== "") refuse(field, `must be empty in state ${state}, got "${text(field)}"`);
  }
}
function encodeAnnotations(record) {
  const fields = {
    "state": record.state,
    "primary": record.state === "stable" ? record.primary : "",
    "epoch": String(record.epoch),
    "timeline": String(record.timeline),
    "system-identifier": record.systemIdentifier ?? "",
    "sync": record.sync.join(","),
    "target": record.state === "stable" ? "" : record.target ?? "",
    "previous": record.state === "stable" ? "" : record.previous,
    "job": record.state === "stable" ? "" : record.job,
    "checkpoint": record.state === "switching-over" ? record.checkpoint ?? "" : ""
  };
  const annotations = {};
  for (const field of RECORD_FIELDS) annotations[annotationOf(field)] = fields[field];
  annotations[annotationOf(VERSION_FIELD)] = String(record.version);
  return annotations;
}
function holderOf(record) {
  return record.state === "stable" ? record.primary : "";
}
function encodeRecordPatch(record, resourceVersion) {
  if (resourceVersion === "") throw new Error("a record patch needs the resourceVersion it replaces (compare-and-swap)");
  return {
    metadata: { resourceVersion, annotations: encodeAnnotations(record) },
    spec: { holderIdentity: holderOf(record) }
  };
}
function encodeRecordLease(name, labels, record) {
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name, labels, annotations: encodeAnnotations(record) },
    spec: { holderIdentity: holderOf(record) }
  };
}
function describeRecord(record) {
  if (record === void 0) return "no leader record";
  let line = `epoch ${record.epoch}, ${record.state}, primary ${holderOf(record) || "(none)"}, timeline ${record.timeline}`;
  if (record.sync.length > 0) line += `, synchronous standbys ${record.sync.join(",")}`;
  if (record.state !== "stable") line += ` (job ${record.job}: ${record.previous} -> ${record.target ?? "?"})`;
  if (record.state === "switching-over" && record.checkpoint !== void 0) line += `, shutdown checkpoint ${record.checkpoint}`;
  return line;
}
var RECORD_PREFIX, RECORD_FIELDS, VERSION_FIELD, RECORD_FORMAT_VERSION, RECORD_STATES, KNOWN_ANNOTATIONS, LSN_PATTERN, DECIMAL_PATTERN, RecordError;
var init_record = __esm({
  "src/agent/record.ts"() {
    "use strict";
    RECORD_PREFIX = "postgres.cdk8s.io";
    RECORD_FIELDS = [
      "state",
      "primary",
      "epoch",
      "timeline",
      "system-identifier",
      "sync",
      "target",
      "previous",
      "job",
      "checkpoint"
    ];
    VERSION_FIELD = "version";
    RECORD_FORMAT_VERSION = 1;
    RECORD_STATES = ["stable", "switching-over", "failing-over"];
    KNOWN_ANNOTATIONS = new Set([...RECORD_FIELDS, VERSION_FIELD].map((field) => annotationOf(field)));
    LSN_PATTERN = /^[0-9A-F]+\/[0-9A-F]+$/;
    DECIMAL_PATTERN = /^[0-9]+$/;
    RecordError = class extends Error {
    };
  }
});

// src/agent/transitions.ts
function createRecord(primary) {
  return {
    version: RECORD_FORMAT_VERSION,
    state: "stable",
    primary: primary.primary,
    epoch: 1,
    timeline: primary.timeline,
    systemIdentifier: primary.systemIdentifier,
    sync: [...primary.sync]
  };
}
function recordTimeline(record, timeline) {
  return { ...record, timeline };
}
function recordSyncSet(record, sync) {
  return { ...record, sync: [...sync] };
}
function takenBy(record, takeover) {
  return {
    version: record.version,
    epoch: record.epoch + 1,
    timeline: record.timeline,
    systemIdentifier: record.systemIdentifier,
    sync: record.sync,
    previous: takeover.previous,
    job: takeover.job
  };
}
function beginSwitchover(record, takeover) {
  return { ...takenBy(record, takeover), state: "switching-over", target: takeover.target, checkpoint: void 0 };
}
function recordCheckpoint(record, checkpoint2) {
  return { ...record, checkpoint: checkpoint2 };
}
function takeOverSwitchover(record, sync) {
  return stable(record, record.target, record.epoch, [...sync]);
}
function giveBack(record) {
  return stable(record, record.previous, record.epoch + 1, record.sync);
}
function takeOverLapsedLease(record, primary, sync) {
  return stable(record, primary, record.epoch + 1, [...sync]);
}
function beginFailover(record, takeover) {
  return { ...takenBy(record, takeover), state: "failing-over", target: takeover.target };
}
function recordTarget(record, target) {
  return { ...record, target };
}
function completeFailover(record, sync) {
  if (record.target === void 0) throw new Error(`completeFailover: the failing-over record (epoch ${record.epoch}) names no target`);
  return stable(record, record.target, record.epoch, [...sync]);
}
function stable(record, primary, epoch, sync) {
  return {
    version: record.version,
    state: "stable",
    primary,
    epoch,
    timeline: record.timeline,
    systemIdentifier: record.systemIdentifier,
    sync
  };
}
var init_transitions = __esm({
  "src/agent/transitions.ts"() {
    "use strict";
    init_record();
  }
});

// src/agent/kube.ts
function inClusterOptions(env, timeoutMs, dir = SERVICE_ACCOUNT_DIR) {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT ?? "";
  for (const [variable, value] of [["KUBERNETES_SERVICE_HOST", host], ["KUBERNETES_SERVICE_PORT", port]]) {
    if (value === "") throw new Error(`not in a Kubernetes pod: ${variable} is not set (the kubelet sets it in every container)`);
  }
  const file = (name, what) => {
    const path4 = (0, import_path.join)(dir, name);
    if (!fs2.existsSync(path4)) throw new Error(`not in a Kubernetes pod: ${path4} (${what}) does not exist; is a ServiceAccount token mounted?`);
    return path4;
  };
  const tokenFile = file("token", "the ServiceAccount token");
  const caFile = file("ca.crt", "the CA bundle");
  const namespace = fs2.readFileSync(file("namespace", "the pod's namespace"), "utf8").trim();
  return { server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`, namespace, tokenFile, caFile, timeoutMs };
}
function asObject(what, answer) {
  if (!answer.ok) return answer;
  if (typeof answer.body !== "object" || answer.body === null || Array.isArray(answer.body)) return badAnswer(what, answer.status, "an object");
  return { ok: true, value: answer.body };
}
function podSummary(item) {
  const pod = item;
  const metadata = pod?.metadata;
  if (typeof metadata?.name !== "string") return void 0;
  const labels = typeof metadata.labels === "object" && metadata.labels !== null ? metadata.labels : {};
  const conditions = Array.isArray(pod?.status?.conditions) ? pod.status.conditions : [];
  const containers = Array.isArray(pod?.status?.containerStatuses) ? pod.status.containerStatuses : [];
  const running = (c) => typeof c?.state?.running === "object" && c.state.running !== null;
  return {
    name: metadata.name,
    terminating: typeof metadata.deletionTimestamp === "string",
    ready: conditions.some((c) => c?.type === "Ready" && c.status === "True"),
    uid: typeof metadata.uid === "string" ? metadata.uid : void 0,
    labels: Object.fromEntries(Object.entries(labels).filter((entry) => typeof entry[1] === "string")),
    phase: typeof pod?.status?.phase === "string" ? pod.status.phase : void 0,
    runningContainers: containers.filter((c) => running(c) && typeof c?.name === "string").map((c) => c.name)
  };
}
function asVoid(answer) {
  return answer.ok ? { ok: true, value: void 0 } : answer;
}
function noToken(message) {
  return { ok: false, status: void 0, reason: "NoToken", message };
}
function badAnswer(what, status, expected) {
  return { ok: false, status, reason: BAD_ANSWER, message: `${what}: ${status} but the answer is not ${expected}` };
}
function failureOf(what, status, text) {
  const parsed = parseJson(text);
  const isStatus = parsed?.kind === "Status";
  const reason = isStatus && typeof parsed.reason === "string" && parsed.reason !== "" ? parsed.reason : reasonOf(status);
  const message = isStatus && typeof parsed.message === "string" ? parsed.message : excerpt(text);
  return { ok: false, status, reason, message: `${what}: ${status} ${reason}: ${message}` };
}
function reasonOf(status) {
  return REASONS.get(status) ?? (http.STATUS_CODES[status] ?? "Unknown").replace(/ /g, "");
}
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return void 0;
  }
}
function excerpt(text) {
  const line = text.replace(/\s+/g, " ").trim();
  if (line === "") return "(an empty answer)";
  return line.length > 200 ? `${line.slice(0, 200)}...` : `"${line}"`;
}
function readAll(response) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    response.on("data", (chunk) => chunks.push(chunk));
    response.on("close", () => response.complete ? resolve(Buffer.concat(chunks).toString("utf8")) : reject(new Error("the connection closed")));
  });
}
function execOutcome(what, text, stdout, stderr) {
  const status = parseJson(text);
  if (status?.status === "Success") return { ok: true, value: { code: 0, stdout, stderr } };
  if (status?.status !== "Failure") return badAnswer(what, 101, `a Status on the error channel, got ${excerpt(text)}`);
  const causes = Array.isArray(status.details?.causes) ? status.details.causes : [];
  const exit = status.reason === "NonZeroExitCode" ? causes.find((cause) => cause?.reason === "ExitCode")?.message : void 0;
  if (typeof exit === "string" && /^\d+$/.test(exit)) return { ok: true, value: { code: Number(exit), stdout, stderr } };
  const code = typeof status.code === "number" ? status.code : void 0;
  const reason = typeof status.reason === "string" && status.reason !== "" ? status.reason : code === void 0 ? "Failure" : reasonOf(code);
  const message = typeof status.message === "string" ? status.message : excerpt(text);
  return { ok: false, status: code, reason, message: `${what}: ${code === void 0 ? "" : `${code} `}${reason}: ${message}` };
}
function parseFrame(buffer) {
  if (buffer.length < 2) return 2;
  const lengthCode = buffer[1] & 127;
  const masked = (buffer[1] & 128) !== 0;
  const lengthSize = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
  const headerSize = 2 + lengthSize + (masked ? 4 : 0);
  if (buffer.length < headerSize) return headerSize;
  const length = lengthSize === 2 ? buffer.readUInt16BE(2) : lengthSize === 8 ? Number(buffer.readBigUInt64BE(2)) : lengthCode;
  const size = headerSize + length;
  if (buffer.length < size) return size;
  let payload = buffer.subarray(headerSize, size);
  if (masked) {
    const mask = buffer.subarray(headerSize - 4, headerSize);
    payload = Buffer.from(payload);
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  }
  return { fin: (buffer[0] & 128) !== 0, opcode: buffer[0] & 15, payload, size };
}
function readMessages(socket, head, onMessage) {
  let chunks = [];
  let buffered = 0;
  let needed = 2;
  let fragments = [];
  let messageOpcode = BINARY;
  const read = (chunk) => {
    chunks.push(chunk);
    buffered += chunk.length;
    if (buffered < needed) return;
    let buffer = Buffer.concat(chunks, buffered);
    for (let frame = parseFrame(buffer); typeof frame !== "number"; frame = parseFrame(buffer)) {
      buffer = buffer.subarray(frame.size);
      if (frame.opcode >= CLOSE) {
        onMessage(frame.opcode, frame.payload);
        continue;
      }
      if (frame.opcode !== CONTINUATION) messageOpcode = frame.opcode;
      fragments.push(frame.payload);
      if (frame.fin) {
        const message = Buffer.concat(fragments);
        fragments = [];
        onMessage(messageOpcode, message);
      }
    }
    needed = parseFrame(buffer);
    chunks = [buffer];
    buffered = buffer.length;
  };
  read(head);
  socket.on("data", read);
}
function clientFrame(opcode, payload) {
  const body = payload.subarray(0, 125);
  const mask = crypto.randomBytes(4);
  const frame = Buffer.concat([Buffer.from([128 | opcode, 128 | body.length]), mask, body]);
  for (let i = 0; i < body.length; i++) frame[6 + i] ^= mask[i % 4];
  return frame;
}
function versionOf(lease) {
  const version = lease?.metadata?.resourceVersion;
  return typeof version === "string" ? version : void 0;
}
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
async function followLease(client, name, onChange, signal, retryMs = DEFAULT_RETRY_MS) {
  while (!signal.aborted) {
    const got = await client.getLease(name);
    if (!got.ok) {
      await sleep(retryMs, signal);
      continue;
    }
    onChange(got.value);
    let end = { kind: "ended", resourceVersion: versionOf(got.value) ?? "" };
    while (end.kind === "ended" && !signal.aborted) {
      end = await client.watchLease(name, end.resourceVersion, (type, lease) => onChange(type === "DELETED" ? void 0 : lease), signal);
    }
    if (!signal.aborted) await sleep(retryMs, signal);
  }
}
var crypto, fs2, http, https2, import_path, import_perf_hooks, SERVICE_ACCOUNT_DIR, TOKEN_REREAD_MS, DEFAULT_WATCH_SECONDS, DEFAULT_RETRY_MS, DEFAULT_USER_AGENT, NO_ANSWER, BAD_ANSWER, EXEC_PROTOCOLS, WEBSOCKET_GUID, CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG, STDOUT_CHANNEL, STDERR_CHANNEL, ERROR_CHANNEL, KubeClient, REASONS;
var init_kube = __esm({
  "src/agent/kube.ts"() {
    "use strict";
    crypto = __toESM(require("crypto"));
    fs2 = __toESM(require("fs"));
    http = __toESM(require("http"));
    https2 = __toESM(require("https"));
    import_path = require("path");
    import_perf_hooks = require("perf_hooks");
    SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
    TOKEN_REREAD_MS = 1e3;
    DEFAULT_WATCH_SECONDS = 300;
    DEFAULT_RETRY_MS = 1e3;
    DEFAULT_USER_AGENT = "cdk8s-postgres-agent";
    NO_ANSWER = "NoAnswer";
    BAD_ANSWER = "BadAnswer";
    EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
    WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    CONTINUATION = 0;
    TEXT = 1;
    BINARY = 2;
    CLOSE = 8;
    PING = 9;
    PONG = 10;
    STDOUT_CHANNEL = 1;
    STDERR_CHANNEL = 2;
    ERROR_CHANNEL = 3;
    KubeClient = class {
      constructor(options) {
        this.options = options;
        this.url = new URL(options.server);
        const ca = fs2.readFileSync(options.caFile);
        this.agent = new https2.Agent({ keepAlive: true, maxFreeSockets: 1, ca });
        this.watchAgent = new https2.Agent({ keepAlive: true, maxFreeSockets: 1, ca });
        this.execAgent = new https2.Agent({ keepAlive: false, ca });
        this.eventAgent = new https2.Agent({ keepAlive: true, maxFreeSockets: 1, ca });
      }
      options;
      url;
      /** One connection, kept open between requests: the agent idles cheaply. */
      agent;
      /** Watches hold their connection for minutes: their own. */
      watchAgent;
      /** An exec's connection becomes its WebSocket and is never reused: not kept alive. */
      execAgent;
      /** Events are best effort: their own connection, so that one sent beside a write of the record never holds it up. */
      eventAgent;
      token;
      /** Closes the idle connections (an agent that stops, a test that ends). */
      close() {
        this.agent.destroy();
        this.watchAgent.destroy();
        this.execAgent.destroy();
        this.eventAgent.destroy();
      }
      /** GET the Lease; 404 → { ok: true, value: undefined }. */
      async getLease(name) {
        const what = `GET leases/${name}`;
        const answer = await this.request("GET", what, this.leasePath(name));
        if (!answer.ok && answer.status === 404) return { ok: true, value: void 0 };
        return asObject(what, answer);
      }
      /** POST; a Lease that exists → ok:false status 409 reason 'AlreadyExists'. */
      async createLease(lease) {
        const what = `POST leases/${lease.metadata.name}`;
        return asObject(what, await this.request("POST", what, this.leasePath(), lease));
      }
      /** PATCH application/merge-patch+json with metadata.resourceVersion (compare-and-swap): a changed Lease → 409 reason 'Conflict'; a deleted one → 404. */
      async patchLease(name, patch) {
        const what = `PATCH leases/${name}`;
        return asObject(what, await this.request("PATCH", what, this.leasePath(name), patch));
      }
      /** The names of the pods matching a label selector (`a=b,c=d`). */
      async listPodNames(labelSelector) {
        const listed = await this.listPods(labelSelector);
        return listed.ok ? { ok: true, value: listed.value.map((pod) => pod.name) } : listed;
      }
      /**
       * The pods matching a label selector (`a=b,c=d`) and, when given, a field selector (`status.phase=Running`), each with
       * whether it is being deleted (metadata.deletionTimestamp), its phase and its running containers.
       */
      async listPods(labelSelector, fieldSelector) {
        const query = new URLSearchParams({ labelSelector });
        if (fieldSelector !== void 0) query.set("fieldSelector", fieldSelector);
        const what = `GET pods?labelSelector=${labelSelector}${fieldSelector === void 0 ? "" : `&fieldSelector=${fieldSelector}`}`;
        const answer = await this.request("GET", what, `${this.corePath("pods")}?${query}`);
        if (!answer.ok) return answer;
        const items = answer.body?.items;
        const pods = Array.isArray(items) ? items.map(podSummary) : [];
        if (!Array.isArray(items) || pods.some((pod) => pod === void 0)) return badAnswer(what, answer.status, "a PodList with named items");
        return { ok: true, value: pods };
      }
      /** One pod, as listPods summarizes it; 404 → { ok: true, value: undefined }. */
      async getPod(name) {
        const what = `GET pods/${name}`;
        const answer = await this.request("GET", what, this.corePath("pods", name));
        if (!answer.ok) return answer.status === 404 ? { ok: true, value: void 0 } : answer;
        const pod = podSummary(answer.body);
        return pod === void 0 ? badAnswer(what, answer.status, "a named Pod") : { ok: true, value: pod };
      }
      /** Sets (value string) or removes (value null) one label of a pod: a merge patch of metadata.labels. */
      async labelPod(name, key, value) {
        const what = `PATCH pods/${name}`;
        return asVoid(await this.request("PATCH", what, this.corePath("pods", name), { metadata: { labels: { [key]: value } } }));
      }
      /**
       * Deletes a pod (graceful: its containers get SIGTERM and the pod's grace period), only if it is still the one listed:
       * a precondition on its uid, so that a pod made anew under the same name since is left alone (409 Conflict).
       * 404 (gone already) → ok.
       */
      async deletePod(name, uid) {
        const what = `DELETE pods/${name}`;
        const options = uid === void 0 ? void 0 : { apiVersion: "v1", kind: "DeleteOptions", preconditions: { uid } };
        const answer = await this.request("DELETE", what, this.corePath("pods", name), options);
        return !answer.ok && answer.status === 404 ? { ok: true, value: void 0 } : asVoid(answer);
      }
      /** The StatefulSet's replicas and its update revision (status.updateRevision: the pod template pods are made from now); 404 → undefined. */
      async getStatefulSet(name) {
        const what = `GET statefulsets/${name}`;
        const path4 = `/apis/apps/v1/namespaces/${encodeURIComponent(this.options.namespace)}/statefulsets/${encodeURIComponent(name)}`;
        const answer = await this.request("GET", what, path4);
        if (!answer.ok) return answer.status === 404 ? { ok: true, value: void 0 } : answer;
        const item = answer.body;
        const replicas = item?.spec?.replicas;
        if (typeof replicas !== "number" || !Number.isInteger(replicas)) return badAnswer(what, answer.status, "a StatefulSet with spec.replicas");
        const updateRevision = item?.status?.updateRevision;
        return { ok: true, value: { replicas, updateRevision: typeof updateRevision === "string" && updateRevision !== "" ? updateRevision : void 0 } };
      }
      /** Creates a core/v1 Event about a pod (type Normal|Warning, reason, message), for `kubectl get events`. Best effort. */
      async podEvent(pod, type, reason, message, component) {
        return this.event({ apiVersion: "v1", kind: "Pod", name: pod }, pod, type, reason, message, component);
      }
      /** The same Event about a Lease (the leader record), reported by `instance` (this pod). */
      async leaseEvent(lease, instance, type, reason, message, component) {
        return this.event({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", name: lease }, instance, type, reason, message, component);
      }
      async event(involved, instance, type, reason, message, component) {
        const now = `${(/* @__PURE__ */ new Date()).toISOString().slice(0, 19)}Z`;
        const namespace = this.options.namespace;
        const event = {
          apiVersion: "v1",
          kind: "Event",
          metadata: { generateName: `${involved.name}.`, namespace },
          involvedObject: { ...involved, namespace },
          type,
          reason,
          message,
          source: { component },
          reportingComponent: component,
          reportingInstance: instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1
        };
        return asVoid(await this.request("POST", `POST events (${reason} about ${involved.kind.toLowerCase()} ${involved.name})`, this.corePath("events"), event, this.eventAgent));
      }
      /**
       * One watch of one Lease, from `resourceVersion` ('' for its state now, then its changes). Calls onEvent for each
       * ADDED/MODIFIED/DELETED event (BOOKMARK only advances the resourceVersion). Resolves when the watch ends; never rejects.
       * The answer's headers are bounded by timeoutMs; the watch by timeoutSeconds and timeoutMs (a server that does not end it
       * then is not heard).
       */
      watchLease(name, resourceVersion, onEvent, signal, timeoutSeconds = this.options.watchSeconds ?? DEFAULT_WATCH_SECONDS) {
        const what = `WATCH leases/${name}`;
        const query = new URLSearchParams({ fieldSelector: `metadata.name=${name}`, watch: "true" });
        if (resourceVersion !== "") query.set("resourceVersion", resourceVersion);
        query.set("allowWatchBookmarks", "true");
        query.set("timeoutSeconds", String(timeoutSeconds));
        return new Promise((resolve) => {
          let last = resourceVersion;
          let request3;
          let timer;
          let done = false;
          const finish = (end) => {
            done = true;
            clearTimeout(timer);
            signal.removeEventListener("abort", onAbort);
            if (end.kind !== "ended") request3?.destroy();
            resolve(end);
          };
          const fail = (message) => finish({ kind: "error", message: `${what}: ${message}` });
          const onAbort = () => fail("aborted");
          if (signal.aborted) return onAbort();
          const token = this.bearer();
          if (typeof token !== "string") return fail(token.message);
          signal.addEventListener("abort", onAbort);
          timer = setTimeout(() => fail(`no answer from the API server within ${this.options.timeoutMs} ms`), this.options.timeoutMs);
          request3 = https2.request(this.requestOptions("GET", `${this.leasePath()}?${query}`, token, this.watchAgent));
          request3.on("error", (error) => fail(`no answer from the API server: ${error.message}`));
          request3.on("response", (response) => {
            clearTimeout(timer);
            if (response.statusCode !== 200) {
              void readAll(response).then((text) => {
                const failure = failureOf(what, response.statusCode ?? 0, text);
                if (failure.status === 410) finish({ kind: "gone" });
                else finish({ kind: "error", message: failure.message });
              }, (error) => fail(`the answer broke off: ${error.message}`));
              return;
            }
            const limitMs = timeoutSeconds * 1e3 + this.options.timeoutMs;
            timer = setTimeout(() => fail(`the API server did not end the watch within ${limitMs} ms`), limitMs);
            let buffer = "";
            const line = (text) => {
              if (done) return false;
              if (text.trim() === "") return true;
              const { type, object } = parseJson(text) ?? {};
              if (typeof object !== "object" || object === null) {
                fail(`an event that is not a watch event: ${excerpt(text)}`);
                return false;
              }
              if (type === "ERROR") {
                const status = object;
                if (status.code === 410) finish({ kind: "gone" });
                else fail(`${String(status.code)} ${String(status.reason)}: ${String(status.message)}`);
                return false;
              }
              last = versionOf(object) ?? last;
              if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") {
                try {
                  onEvent(type, object);
                } catch (error) {
                  fail(`the watcher failed on a ${type} event: ${error.message}`);
                  return false;
                }
              }
              return true;
            };
            response.setEncoding("utf8");
            response.on("data", (chunk) => {
              buffer += chunk;
              for (let end = buffer.indexOf("\n"); end >= 0; end = buffer.indexOf("\n")) {
                const text = buffer.slice(0, end);
                buffer = buffer.slice(end + 1);
                if (!line(text)) return;
              }
            });
            response.on("close", () => {
              if (!response.complete) fail("the connection broke off");
              else if (line(buffer)) finish({ kind: "ended", resourceVersion: last });
            });
          });
          request3.end();
        });
      }
      /**
       * Runs a command in a pod's container, as `kubectl exec POD -c CONTAINER -- COMMAND...` (kubectl 1.30+): a GET of
       * pods/exec upgraded to a WebSocket (`v5.channel.k8s.io`, else `v4.channel.k8s.io`), no stdin, no tty. The command's
       * exit code and output (each stream apart), from the Status the API server sends on the error channel when it ends:
       * "Success" → code 0; "Failure" with reason NonZeroExitCode → the code of its ExitCode cause. Any other Failure (the
       * container is not running, the kubelet cannot be reached) → ok:false with the Status's code (if any), reason and
       * message; an upgrade refused (403, 404, 400...) → ok:false with the HTTP status and the Status's message, as the
       * other requests. No end within timeoutMs (the whole exec), or a stream that ends without a Status → NO_ANSWER: the
       * command may have run, or still run. Resolves when the WebSocket has closed; never rejects.
       */
      exec(pod, container, command, timeoutMs) {
        const what = `EXEC pods/${pod} (${container}): ${command.join(" ")}`;
        const token = this.bearer();
        if (typeof token !== "string") return Promise.resolve({ ...token, message: `${what}: ${token.message}` });
        const query = new URLSearchParams(command.map((word) => ["command", word]));
        query.append("container", container);
        query.append("stdout", "true");
        query.append("stderr", "true");
        const key = crypto.randomBytes(16).toString("base64");
        const options = this.requestOptions("GET", `${this.corePath("pods", pod)}/exec?${query}`, token, this.execAgent, void 0, void 0, {
          "Connection": "Upgrade",
          "Upgrade": "websocket",
          "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": key,
          "Sec-WebSocket-Protocol": EXEC_PROTOCOLS.join(", ")
        });
        return new Promise((resolve) => {
          let socket;
          const finish = (result) => {
            clearTimeout(timer);
            resolve(result);
          };
          const noAnswer = (detail) => {
            request3.destroy();
            socket?.destroy();
            finish({ ok: false, status: void 0, reason: NO_ANSWER, message: `${what}: ${detail}` });
          };
          const timer = setTimeout(() => noAnswer(`no answer from the API server within ${timeoutMs} ms`), timeoutMs);
          const request3 = https2.request(options);
          request3.on("error", (error) => noAnswer(`no answer from the API server: ${error.message}`));
          request3.on("response", (response) => {
            readAll(response).then(
              (text) => finish(failureOf(what, response.statusCode ?? 0, text)),
              (error) => noAnswer(`no answer from the API server: the answer broke off: ${error.message}`)
            );
          });
          request3.on("upgrade", (response, upgraded, head) => {
            socket = upgraded;
            upgraded.on("error", () => void 0);
            const accept = crypto.createHash("sha1").update(`${key}${WEBSOCKET_GUID}`).digest("base64");
            const protocol = response.headers["sec-websocket-protocol"];
            let refused;
            if (response.headers["sec-websocket-accept"] !== accept) refused = "a WebSocket whose Sec-WebSocket-Accept is that of the key sent";
            else if (protocol === void 0 || !EXEC_PROTOCOLS.includes(protocol)) refused = `a WebSocket of ${EXEC_PROTOCOLS.join(" or ")}, got ${protocol ?? "no protocol"}`;
            if (refused !== void 0) {
              upgraded.destroy();
              return finish(badAnswer(what, 101, refused));
            }
            const streams = /* @__PURE__ */ new Map([[STDOUT_CHANNEL, []], [STDERR_CHANNEL, []], [ERROR_CHANNEL, []]]);
            const send = (frame) => {
              if (upgraded.writable) upgraded.write(frame);
            };
            readMessages(upgraded, head, (opcode, payload) => {
              if (opcode === PING) {
                send(clientFrame(PONG, payload));
              } else if (opcode === CLOSE) {
                send(clientFrame(CLOSE, payload.subarray(0, 2)));
                upgraded.end();
              } else if ((opcode === BINARY || opcode === TEXT) && payload.length > 0) {
                streams.get(payload[0])?.push(payload.subarray(1));
              }
            });
            upgraded.on("close", () => {
              const text = (channel) => Buffer.concat(streams.get(channel)).toString("utf8");
              if (streams.get(ERROR_CHANNEL).length === 0) return noAnswer("the exec stream ended without the command's exit status");
              return finish(execOutcome(what, text(ERROR_CHANNEL), text(STDOUT_CHANNEL), text(STDERR_CHANNEL)));
            });
          });
          request3.end();
        });
      }
      // ---- requests ----
      leasePath(name) {
        const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.options.namespace)}/leases`;
        return name === void 0 ? collection : `${collection}/${encodeURIComponent(name)}`;
      }
      corePath(plural2, name) {
        const collection = `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/${plural2}`;
        return name === void 0 ? collection : `${collection}/${encodeURIComponent(name)}`;
      }
      /** The token, read again when the last read is TOKEN_REREAD_MS old; the old one while the file cannot be read. */
      bearer() {
        const now = import_perf_hooks.performance.now();
        if (this.token && now - this.token.readAt < TOKEN_REREAD_MS) return this.token.value;
        let value;
        try {
          value = fs2.readFileSync(this.options.tokenFile, "utf8").trim();
        } catch (error) {
          if (this.token) return this.token.value;
          return noToken(`cannot read the token file: ${error.message}`);
        }
        if (value === "") return this.token?.value ?? noToken(`the token file ${this.options.tokenFile} is empty`);
        this.token = { value, readAt: now };
        return value;
      }
      requestOptions(method, path4, token, agent, body, contentType, headers = {}) {
        return {
          method,
          // URL keeps an IPv6 address in brackets; a socket wants it bare.
          hostname: this.url.hostname.startsWith("[") ? this.url.hostname.slice(1, -1) : this.url.hostname,
          port: this.url.port || 443,
          path: path4,
          agent,
          headers: {
            "Authorization": `Bearer ${token}`,
            "Accept": "application/json",
            "User-Agent": this.options.userAgent ?? DEFAULT_USER_AGENT,
            ...body === void 0 ? {} : { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) },
            ...headers
          }
        };
      }
      /** One request, bounded by timeoutMs: its parsed answer, or why there is none. */
      request(method, what, path4, payload, agent = this.agent) {
        const token = this.bearer();
        if (typeof token !== "string") return Promise.resolve({ ...token, message: `${what}: ${token.message}` });
        const body = JSON.stringify(payload);
        const contentType = method === "PATCH" ? "application/merge-patch+json" : "application/json";
        return new Promise((resolve) => {
          const request3 = https2.request(this.requestOptions(method, path4, token, agent, body, contentType));
          const finish = (answer) => {
            clearTimeout(timer);
            resolve(answer);
          };
          const noAnswer = (detail) => {
            request3.destroy();
            finish({ ok: false, status: void 0, reason: NO_ANSWER, message: `${what}: no answer from the API server${detail}` });
          };
          const timer = setTimeout(() => noAnswer(` within ${this.options.timeoutMs} ms`), this.options.timeoutMs);
          request3.on("error", (error) => noAnswer(`: ${error.message}`));
          request3.on("response", (response) => {
            readAll(response).then((text) => {
              const status = response.statusCode ?? 0;
              if (Math.floor(status / 100) !== 2) return finish(failureOf(what, status, text));
              const parsed = parseJson(text);
              if (parsed === void 0) return finish(badAnswer(what, status, `JSON, got ${excerpt(text)}`));
              return finish({ ok: true, status, body: parsed });
            }, (error) => noAnswer(`: the answer broke off: ${error.message}`));
          });
          request3.end(body);
        });
      }
    };
    REASONS = /* @__PURE__ */ new Map([
      [400, "BadRequest"],
      [401, "Unauthorized"],
      [403, "Forbidden"],
      [404, "NotFound"],
      [405, "MethodNotAllowed"],
      [409, "Conflict"],
      [410, "Expired"],
      [422, "Invalid"],
      [429, "TooManyRequests"],
      [500, "InternalError"],
      [503, "ServiceUnavailable"],
      [504, "Timeout"]
    ]);
  }
});

// node_modules/postgres-array/index.js
var require_postgres_array = __commonJS({
  "node_modules/postgres-array/index.js"(exports2) {
    "use strict";
    exports2.parse = function(source, transform) {
      return new ArrayParser(source, transform).parse();
    };
    var ArrayParser = class _ArrayParser {
      constructor(source, transform) {
        this.source = source;
        this.transform = transform || identity;
        this.position = 0;
        this.entries = [];
        this.recorded = [];
        this.dimension = 0;
      }
      isEof() {
        return this.position >= this.source.length;
      }
      nextCharacter() {
        var character = this.source[this.position++];
        if (character === "\\") {
          return {
            value: this.source[this.position++],
            escaped: true
          };
        }
        return {
          value: character,
          escaped: false
        };
      }
      record(character) {
        this.recorded.push(character);
      }
      newEntry(includeEmpty) {
        var entry;
        if (this.recorded.length > 0 || includeEmpty) {
          entry = this.recorded.join("");
          if (entry === "NULL" && !includeEmpty) {
            entry = null;
          }
          if (entry !== null) entry = this.transform(entry);
          this.entries.push(entry);
          this.recorded = [];
        }
      }
      consumeDimensions() {
        if (this.source[0] === "[") {
          while (!this.isEof()) {
            var char = this.nextCharacter();
            if (char.value === "=") break;
          }
        }
      }
      parse(nested) {
        var character, parser, quote;
        this.consumeDimensions();
        while (!this.isEof()) {
          character = this.nextCharacter();
          if (character.value === "{" && !quote) {
            this.dimension++;
            if (this.dimension > 1) {
              parser = new _ArrayParser(this.source.substr(this.position - 1), this.transform);
              this.entries.push(parser.parse(true));
              this.position += parser.position - 2;
            }
          } else if (character.value === "}" && !quote) {
            this.dimension--;
            if (!this.dimension) {
              this.newEntry();
              if (nested) return this.entries;
            }
          } else if (character.value === '"' && !character.escaped) {
            if (quote) this.newEntry(true);
            quote = !quote;
          } else if (character.value === "," && !quote) {
            this.newEntry();
          } else {
            this.record(character.value);
          }
        }
        if (this.dimension !== 0) {
          throw new Error("array dimension not balanced");
        }
        return this.entries;
      }
    };
    function identity(value) {
      return value;
    }
  }
});

// node_modules/pg-types/lib/arrayParser.js
var require_arrayParser = __commonJS({
  "node_modules/pg-types/lib/arrayParser.js"(exports2, module2) {
    var array = require_postgres_array();
    module2.exports = {
      create: function(source, transform) {
        return {
          parse: function() {
            return array.parse(source, transform);
          }
        };
      }
    };
  }
});

// node_modules/postgres-date/index.js
var require_postgres_date = __commonJS({
  "node_modules/postgres-date/index.js"(exports2, module2) {
    "use strict";
    var DATE_TIME = /(\d{1,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,})?.*?( BC)?$/;
    var DATE = /^(\d{1,})-(\d{2})-(\d{2})( BC)?$/;
    var TIME_ZONE = /([Z+-])(\d{2})?:?(\d{2})?:?(\d{2})?/;
    var INFINITY = /^-?infinity$/;
    module2.exports = function parseDate(isoDate) {
      if (INFINITY.test(isoDate)) {
        return Number(isoDate.replace("i", "I"));
      }
      var matches = DATE_TIME.exec(isoDate);
      if (!matches) {
        return getDate(isoDate) || null;
      }
      var isBC = !!matches[8];
      var year = parseInt(matches[1], 10);
      if (isBC) {
        year = bcYearToNegativeYear(year);
      }
      var month = parseInt(matches[2], 10) - 1;
      var day = matches[3];
      var hour = parseInt(matches[4], 10);
      var minute = parseInt(matches[5], 10);
      var second = parseInt(matches[6], 10);
      var ms = matches[7];
      ms = ms ? 1e3 * parseFloat(ms) : 0;
      var date;
      var offset = timeZoneOffset(isoDate);
      if (offset != null) {
        date = new Date(Date.UTC(year, month, day, hour, minute, second, ms));
        if (is0To99(year)) {
          date.setUTCFullYear(year);
        }
        if (offset !== 0) {
          date.setTime(date.getTime() - offset);
        }
      } else {
        date = new Date(year, month, day, hour, minute, second, ms);
        if (is0To99(year)) {
          date.setFullYear(year);
        }
      }
      return date;
    };
    function getDate(isoDate) {
      var matches = DATE.exec(isoDate);
      if (!matches) {
        return;
      }
      var year = parseInt(matches[1], 10);
      var isBC = !!matches[4];
      if (isBC) {
        year = bcYearToNegativeYear(year);
      }
      var month = parseInt(matches[2], 10) - 1;
      var day = matches[3];
      var date = new Date(year, month, day);
      if (is0To99(year)) {
        date.setFullYear(year);
      }
      return date;
    }
    function timeZoneOffset(isoDate) {
      if (isoDate.endsWith("+00")) {
        return 0;
      }
      var zone = TIME_ZONE.exec(isoDate.split(" ")[1]);
      if (!zone) return;
      var type = zone[1];
      if (type === "Z") {
        return 0;
      }
      var sign = type === "-" ? -1 : 1;
      var offset = parseInt(zone[2], 10) * 3600 + parseInt(zone[3] || 0, 10) * 60 + parseInt(zone[4] || 0, 10);
      return offset * sign * 1e3;
    }
    function bcYearToNegativeYear(year) {
      return -(year - 1);
    }
    function is0To99(num) {
      return num >= 0 && num < 100;
    }
  }
});

// node_modules/xtend/mutable.js
var require_mutable = __commonJS({
  "node_modules/xtend/mutable.js"(exports2, module2) {
    module2.exports = extend;
    var hasOwnProperty = Object.prototype.hasOwnProperty;
    function extend(target) {
      for (var i = 1; i < arguments.length; i++) {
        var source = arguments[i];
        for (var key in source) {
          if (hasOwnProperty.call(source, key)) {
            target[key] = source[key];
          }
        }
      }
      return target;
    }
  }
});

// node_modules/postgres-interval/index.js
var require_postgres_interval = __commonJS({
  "node_modules/postgres-interval/index.js"(exports2, module2) {
    "use strict";
    var extend = require_mutable();
    module2.exports = PostgresInterval;
    function PostgresInterval(raw) {
      if (!(this instanceof PostgresInterval)) {
        return new PostgresInterval(raw);
      }
      extend(this, parse(raw));
    }
    var properties = ["seconds", "minutes", "hours", "days", "months", "years"];
    PostgresInterval.prototype.toPostgres = function() {
      var filtered = properties.filter(this.hasOwnProperty, this);
      if (this.milliseconds && filtered.indexOf("seconds") < 0) {
        filtered.push("seconds");
      }
      if (filtered.length === 0) return "0";
      return filtered.map(function(property) {
        var value = this[property] || 0;
        if (property === "seconds" && this.milliseconds) {
          value = (value + this.milliseconds / 1e3).toFixed(6).replace(/\.?0+$/, "");
        }
        return value + " " + property;
      }, this).join(" ");
    };
    var propertiesISOEquivalent = {
      years: "Y",
      months: "M",
      days: "D",
      hours: "H",
      minutes: "M",
      seconds: "S"
    };
    var dateProperties = ["years", "months", "days"];
    var timeProperties = ["hours", "minutes", "seconds"];
    PostgresInterval.prototype.toISOString = PostgresInterval.prototype.toISO = function() {
      var datePart = dateProperties.map(buildProperty, this).join("");
      var timePart = timeProperties.map(buildProperty, this).join("");
      return "P" + datePart + "T" + timePart;
      function buildProperty(property) {
        var value = this[property] || 0;
        if (property === "seconds" && this.milliseconds) {
          value = (value + this.milliseconds / 1e3).toFixed(6).replace(/0+$/, "");
        }
        return value + propertiesISOEquivalent[property];
      }
    };
    var NUMBER = "([+-]?\\d+)";
    var YEAR = NUMBER + "\\s+years?";
    var MONTH = NUMBER + "\\s+mons?";
    var DAY = NUMBER + "\\s+days?";
    var TIME = "([+-])?([\\d]*):(\\d\\d):(\\d\\d)\\.?(\\d{1,6})?";
    var INTERVAL = new RegExp([YEAR, MONTH, DAY, TIME].map(function(regexString) {
      return "(" + regexString + ")?";
    }).join("\\s*"));
    var positions = {
      years: 2,
      months: 4,
      days: 6,
      hours: 9,
      minutes: 10,
      seconds: 11,
      milliseconds: 12
    };
    var negatives = ["hours", "minutes", "seconds", "milliseconds"];
    function parseMilliseconds(fraction) {
      var microseconds = fraction + "000000".slice(fraction.length);
      return parseInt(microseconds, 10) / 1e3;
    }
    function parse(interval) {
      if (!interval) return {};
      var matches = INTERVAL.exec(interval);
      var isNegative = matches[8] === "-";
      return Object.keys(positions).reduce(function(parsed, property) {
        var position = positions[property];
        var value = matches[position];
        if (!value) return parsed;
        value = property === "milliseconds" ? parseMilliseconds(value) : parseInt(value, 10);
        if (!value) return parsed;
        if (isNegative && ~negatives.indexOf(property)) {
          value *= -1;
        }
        parsed[property] = value;
        return parsed;
      }, {});
    }
  }
});

// node_modules/postgres-bytea/index.js
var require_postgres_bytea = __commonJS({
  "node_modules/postgres-bytea/index.js"(exports2, module2) {
    "use strict";
    var bufferFrom = Buffer.from || Buffer;
    module2.exports = function parseBytea(input) {
      if (/^\\x/.test(input)) {
        return bufferFrom(input.substr(2), "hex");
      }
      var output = "";
      var i = 0;
      while (i < input.length) {
        if (input[i] !== "\\") {
          output += input[i];
          ++i;
        } else {
          if (/[0-7]{3}/.test(input.substr(i + 1, 3))) {
            output += String.fromCharCode(parseInt(input.substr(i + 1, 3), 8));
            i += 4;
          } else {
            var backslashes = 1;
            while (i + backslashes < input.length && input[i + backslashes] === "\\") {
              backslashes++;
            }
            for (var k = 0; k < Math.floor(backslashes / 2); ++k) {
              output += "\\";
            }
            i += Math.floor(backslashes / 2) * 2;
          }
        }
      }
      return bufferFrom(output, "binary");
    };
  }
});

// node_modules/pg-types/lib/textParsers.js
var require_textParsers = __commonJS({
  "node_modules/pg-types/lib/textParsers.js"(exports2, module2) {
    var array = require_postgres_array();
    var arrayParser = require_arrayParser();
    var parseDate = require_postgres_date();
    var parseInterval = require_postgres_interval();
    var parseByteA = require_postgres_bytea();
    function allowNull(fn) {
      return function nullAllowed(value) {
        if (value === null) return value;
        return fn(value);
      };
    }
    function parseBool(value) {
      if (value === null) return value;
      return value === "TRUE" || value === "t" || value === "true" || value === "y" || value === "yes" || value === "on" || value === "1";
    }
    function parseBoolArray(value) {
      if (!value) return null;
      return array.parse(value, parseBool);
    }
    function parseBaseTenInt(string) {
      return parseInt(string, 10);
    }
    function parseIntegerArray(value) {
      if (!value) return null;
      return array.parse(value, allowNull(parseBaseTenInt));
    }
    function parseBigIntegerArray(value) {
      if (!value) return null;
      return array.parse(value, allowNull(function(entry) {
        return parseBigInteger(entry).trim();
      }));
    }
    var parsePointArray = function(value) {
      if (!value) {
        return null;
      }
      var p = arrayParser.create(value, function(entry) {
        if (entry !== null) {
          entry = parsePoint(entry);
        }
        return entry;
      });
      return p.parse();
    };
    var parseFloatArray = function(value) {
      if (!value) {
        return null;
      }
      var p = arrayParser.create(value, function(entry) {
        if (entry !== null) {
          entry = parseFloat(entry);
        }
        return entry;
      });
      return p.parse();
    };
    var parseStringArray = function(value) {
      if (!value) {
        return null;
      }
      var p = arrayParser.create(value);
      return p.parse();
    };
    var parseDateArray = function(value) {
      if (!value) {
        return null;
      }
      var p = arrayParser.create(value, function(entry) {
        if (entry !== null) {
          entry = parseDate(entry);
        }
        return entry;
      });
      return p.parse();
    };
    var parseIntervalArray = function(value) {
      if (!value) {
        return null;
      }
      var p = arrayParser.create(value, function(entry) {
        if (entry !== null) {
          entry = parseInterval(entry);
        }
        return entry;
      });
      return p.parse();
    };
    var parseByteAArray = function(value) {
      if (!value) {
        return null;
      }
      return array.parse(value, allowNull(parseByteA));
    };
    var parseInteger = function(value) {
      return parseInt(value, 10);
    };
    var parseBigInteger = function(value) {
      var valStr = String(value);
      if (/^\d+$/.test(valStr)) {
        return valStr;
      }
      return value;
    };
    var parseJsonArray = function(value) {
      if (!value) {
        return null;
      }
      return array.parse(value, allowNull(JSON.parse));
    };
    var parsePoint = function(value) {
      if (value[0] !== "(") {
        return null;
      }
      value = value.substring(1, value.length - 1).split(",");
      return {
        x: parseFloat(value[0]),
        y: parseFloat(value[1])
      };
    };
    var parseCircle = function(value) {
      if (value[0] !== "<" && value[1] !== "(") {
        return null;
      }
      var point = "(";
      var radius = "";
      var pointParsed = false;
      for (var i = 2; i < value.length - 1; i++) {
        if (!pointParsed) {
          point += value[i];
        }
        if (value[i] === ")") {
          pointParsed = true;
          continue;
        } else if (!pointParsed) {
          continue;
        }
        if (value[i] === ",") {
          continue;
        }
        radius += value[i];
      }
      var result = parsePoint(point);
      result.radius = parseFloat(radius);
      return result;
    };
    var init = function(register) {
      register(20, parseBigInteger);
      register(21, parseInteger);
      register(23, parseInteger);
      register(26, parseInteger);
      register(700, parseFloat);
      register(701, parseFloat);
      register(16, parseBool);
      register(1082, parseDate);
      register(1114, parseDate);
      register(1184, parseDate);
      register(600, parsePoint);
      register(651, parseStringArray);
      register(718, parseCircle);
      register(1e3, parseBoolArray);
      register(1001, parseByteAArray);
      register(1005, parseIntegerArray);
      register(1007, parseIntegerArray);
      register(1028, parseIntegerArray);
      register(1016, parseBigIntegerArray);
      register(1017, parsePointArray);
      register(1021, parseFloatArray);
      register(1022, parseFloatArray);
      register(1231, parseFloatArray);
      register(1014, parseStringArray);
      register(1015, parseStringArray);
      register(1008, parseStringArray);
      register(1009, parseStringArray);
      register(1040, parseStringArray);
      register(1041, parseStringArray);
      register(1115, parseDateArray);
      register(1182, parseDateArray);
      register(1185, parseDateArray);
      register(1186, parseInterval);
      register(1187, parseIntervalArray);
      register(17, parseByteA);
      register(114, JSON.parse.bind(JSON));
      register(3802, JSON.parse.bind(JSON));
      register(199, parseJsonArray);
      register(3807, parseJsonArray);
      register(3907, parseStringArray);
      register(2951, parseStringArray);
      register(791, parseStringArray);
      register(1183, parseStringArray);
      register(1270, parseStringArray);
    };
    module2.exports = {
      init
    };
  }
});

// node_modules/pg-int8/index.js
var require_pg_int8 = __commonJS({
  "node_modules/pg-int8/index.js"(exports2, module2) {
    "use strict";
    var BASE = 1e6;
    function readInt8(buffer) {
      var high = buffer.readInt32BE(0);
      var low = buffer.readUInt32BE(4);
      var sign = "";
      if (high < 0) {
        high = ~high + (low === 0);
        low = ~low + 1 >>> 0;
        sign = "-";
      }
      var result = "";
      var carry;
      var t;
      var digits;
      var pad;
      var l;
      var i;
      {
        carry = high % BASE;
        high = high / BASE >>> 0;
        t = 4294967296 * carry + low;
        low = t / BASE >>> 0;
        digits = "" + (t - BASE * low);
        if (low === 0 && high === 0) {
          return sign + digits + result;
        }
        pad = "";
        l = 6 - digits.length;
        for (i = 0; i < l; i++) {
          pad += "0";
        }
        result = pad + digits + result;
      }
      {
        carry = high % BASE;
        high = high / BASE >>> 0;
        t = 4294967296 * carry + low;
        low = t / BASE >>> 0;
        digits = "" + (t - BASE * low);
        if (low === 0 && high === 0) {
          return sign + digits + result;
        }
        pad = "";
        l = 6 - digits.length;
        for (i = 0; i < l; i++) {
          pad += "0";
        }
        result = pad + digits + result;
      }
      {
        carry = high % BASE;
        high = high / BASE >>> 0;
        t = 4294967296 * carry + low;
        low = t / BASE >>> 0;
        digits = "" + (t - BASE * low);
        if (low === 0 && high === 0) {
          return sign + digits + result;
        }
        pad = "";
        l = 6 - digits.length;
        for (i = 0; i < l; i++) {
          pad += "0";
        }
        result = pad + digits + result;
      }
      {
        carry = high % BASE;
        t = 4294967296 * carry + low;
        digits = "" + t % BASE;
        return sign + digits + result;
      }
    }
    module2.exports = readInt8;
  }
});

// node_modules/pg-types/lib/binaryParsers.js
var require_binaryParsers = __commonJS({
  "node_modules/pg-types/lib/binaryParsers.js"(exports2, module2) {
    var parseInt64 = require_pg_int8();
    var parseBits = function(data, bits, offset, invert, callback) {
      offset = offset || 0;
      invert = invert || false;
      callback = callback || function(lastValue, newValue, bits2) {
        return lastValue * Math.pow(2, bits2) + newValue;
      };
      var offsetBytes = offset >> 3;
      var inv = function(value) {
        if (invert) {
          return ~value & 255;
        }
        return value;
      };
      var mask = 255;
      var firstBits = 8 - offset % 8;
      if (bits < firstBits) {
        mask = 255 << 8 - bits & 255;
        firstBits = bits;
      }
      if (offset) {
        mask = mask >> offset % 8;
      }
      var result = 0;
      if (offset % 8 + bits >= 8) {
        result = callback(0, inv(data[offsetBytes]) & mask, firstBits);
      }
      var bytes = bits + offset >> 3;
      for (var i = offsetBytes + 1; i < bytes; i++) {
        result = callback(result, inv(data[i]), 8);
      }
      var lastBits = (bits + offset) % 8;
      if (lastBits > 0) {
        result = callback(result, inv(data[bytes]) >> 8 - lastBits, lastBits);
      }
      return result;
    };
    var parseFloatFromBits = function(data, precisionBits, exponentBits) {
      var bias = Math.pow(2, exponentBits - 1) - 1;
      var sign = parseBits(data, 1);
      var exponent = parseBits(data, exponentBits, 1);
      if (exponent === 0) {
        return 0;
      }
      var precisionBitsCounter = 1;
      var parsePrecisionBits = function(lastValue, newValue, bits) {
        if (lastValue === 0) {
          lastValue = 1;
        }
        for (var i = 1; i <= bits; i++) {
          precisionBitsCounter /= 2;
          if ((newValue & 1 << bits - i) > 0) {
            lastValue += precisionBitsCounter;
          }
        }
        return lastValue;
      };
      var mantissa = parseBits(data, precisionBits, exponentBits + 1, false, parsePrecisionBits);
      if (exponent == Math.pow(2, exponentBits + 1) - 1) {
        if (mantissa === 0) {
          return sign === 0 ? Infinity : -Infinity;
        }
        return NaN;
      }
      return (sign === 0 ? 1 : -1) * Math.pow(2, exponent - bias) * mantissa;
    };
    var parseInt16 = function(value) {
      if (parseBits(value, 1) == 1) {
        return -1 * (parseBits(value, 15, 1, true) + 1);
      }
      return parseBits(value, 15, 1);
    };
    var parseInt32 = function(value) {
      if (parseBits(value, 1) == 1) {
        return -1 * (parseBits(value, 31, 1, true) + 1);
      }
      return parseBits(value, 31, 1);
    };
    var parseFloat32 = function(value) {
      return parseFloatFromBits(value, 23, 8);
    };
    var parseFloat64 = function(value) {
      return parseFloatFromBits(value, 52, 11);
    };
    var parseNumeric = function(value) {
      var sign = parseBits(value, 16, 32);
      if (sign == 49152) {
        return NaN;
      }
      var weight = Math.pow(1e4, parseBits(value, 16, 16));
      var result = 0;
      var digits = [];
      var ndigits = parseBits(value, 16);
      for (var i = 0; i < ndigits; i++) {
        result += parseBits(value, 16, 64 + 16 * i) * weight;
        weight /= 1e4;
      }
      var scale = Math.pow(10, parseBits(value, 16, 48));
      return (sign === 0 ? 1 : -1) * Math.round(result * scale) / scale;
    };
    var parseDate = function(isUTC, value) {
      var sign = parseBits(value, 1);
      var rawValue = parseBits(value, 63, 1);
      var result = new Date((sign === 0 ? 1 : -1) * rawValue / 1e3 + 9466848e5);
      if (!isUTC) {
        result.setTime(result.getTime() + result.getTimezoneOffset() * 6e4);
      }
      result.usec = rawValue % 1e3;
      result.getMicroSeconds = function() {
        return this.usec;
      };
      result.setMicroSeconds = function(value2) {
        this.usec = value2;
      };
      result.getUTCMicroSeconds = function() {
        return this.usec;
      };
      return result;
    };
    var parseArray = function(value) {
      var dim = parseBits(value, 32);
      var flags = parseBits(value, 32, 32);
      var elementType = parseBits(value, 32, 64);
      var offset = 96;
      var dims = [];
      for (var i = 0; i < dim; i++) {
        dims[i] = parseBits(value, 32, offset);
        offset += 32;
        offset += 32;
      }
      var parseElement = function(elementType2) {
        var length = parseBits(value, 32, offset);
        offset += 32;
        if (length == 4294967295) {
          return null;
        }
        var result;
        if (elementType2 == 23 || elementType2 == 20) {
          result = parseBits(value, length * 8, offset);
          offset += length * 8;
          return result;
        } else if (elementType2 == 25) {
          result = value.toString(this.encoding, offset >> 3, (offset += length << 3) >> 3);
          return result;
        } else {
          console.log("ERROR: ElementType not implemented: " + elementType2);
        }
      };
      var parse = function(dimension, elementType2) {
        var array = [];
        var i2;
        if (dimension.length > 1) {
          var count = dimension.shift();
          for (i2 = 0; i2 < count; i2++) {
            array[i2] = parse(dimension, elementType2);
          }
          dimension.unshift(count);
        } else {
          for (i2 = 0; i2 < dimension[0]; i2++) {
            array[i2] = parseElement(elementType2);
          }
        }
        return array;
      };
      return parse(dims, elementType);
    };
    var parseText = function(value) {
      return value.toString("utf8");
    };
    var parseBool = function(value) {
      if (value === null) return null;
      return parseBits(value, 8) > 0;
    };
    var init = function(register) {
      register(20, parseInt64);
      register(21, parseInt16);
      register(23, parseInt32);
      register(26, parseInt32);
      register(1700, parseNumeric);
      register(700, parseFloat32);
      register(701, parseFloat64);
      register(16, parseBool);
      register(1114, parseDate.bind(null, false));
      register(1184, parseDate.bind(null, true));
      register(1e3, parseArray);
      register(1007, parseArray);
      register(1016, parseArray);
      register(1008, parseArray);
      register(1009, parseArray);
      register(25, parseText);
    };
    module2.exports = {
      init
    };
  }
});

// node_modules/pg-types/lib/builtins.js
var require_builtins = __commonJS({
  "node_modules/pg-types/lib/builtins.js"(exports2, module2) {
    module2.exports = {
      BOOL: 16,
      BYTEA: 17,
      CHAR: 18,
      INT8: 20,
      INT2: 21,
      INT4: 23,
      REGPROC: 24,
      TEXT: 25,
      OID: 26,
      TID: 27,
      XID: 28,
      CID: 29,
      JSON: 114,
      XML: 142,
      PG_NODE_TREE: 194,
      SMGR: 210,
      PATH: 602,
      POLYGON: 604,
      CIDR: 650,
      FLOAT4: 700,
      FLOAT8: 701,
      ABSTIME: 702,
      RELTIME: 703,
      TINTERVAL: 704,
      CIRCLE: 718,
      MACADDR8: 774,
      MONEY: 790,
      MACADDR: 829,
      INET: 869,
      ACLITEM: 1033,
      BPCHAR: 1042,
      VARCHAR: 1043,
      DATE: 1082,
      TIME: 1083,
      TIMESTAMP: 1114,
      TIMESTAMPTZ: 1184,
      INTERVAL: 1186,
      TIMETZ: 1266,
      BIT: 1560,
      VARBIT: 1562,
      NUMERIC: 1700,
      REFCURSOR: 1790,
      REGPROCEDURE: 2202,
      REGOPER: 2203,
      REGOPERATOR: 2204,
      REGCLASS: 2205,
      REGTYPE: 2206,
      UUID: 2950,
      TXID_SNAPSHOT: 2970,
      PG_LSN: 3220,
      PG_NDISTINCT: 3361,
      PG_DEPENDENCIES: 3402,
      TSVECTOR: 3614,
      TSQUERY: 3615,
      GTSVECTOR: 3642,
      REGCONFIG: 3734,
      REGDICTIONARY: 3769,
      JSONB: 3802,
      REGNAMESPACE: 4089,
      REGROLE: 4096
    };
  }
});

// node_modules/pg-types/index.js
var require_pg_types = __commonJS({
  "node_modules/pg-types/index.js"(exports2) {
    var textParsers = require_textParsers();
    var binaryParsers = require_binaryParsers();
    var arrayParser = require_arrayParser();
    var builtinTypes = require_builtins();
    exports2.getTypeParser = getTypeParser;
    exports2.setTypeParser = setTypeParser;
    exports2.arrayParser = arrayParser;
    exports2.builtins = builtinTypes;
    var typeParsers = {
      text: {},
      binary: {}
    };
    function noParse(val) {
      return String(val);
    }
    function getTypeParser(oid, format) {
      format = format || "text";
      if (!typeParsers[format]) {
        return noParse;
      }
      return typeParsers[format][oid] || noParse;
    }
    function setTypeParser(oid, format, parseFn) {
      if (typeof format == "function") {
        parseFn = format;
        format = "text";
      }
      typeParsers[format][oid] = parseFn;
    }
    textParsers.init(function(oid, converter) {
      typeParsers.text[oid] = converter;
    });
    binaryParsers.init(function(oid, converter) {
      typeParsers.binary[oid] = converter;
    });
  }
});

// node_modules/pg/lib/defaults.js
var require_defaults = __commonJS({
  "node_modules/pg/lib/defaults.js"(exports2, module2) {
    "use strict";
    var user;
    try {
      user = process.platform === "win32" ? process.env.USERNAME : process.env.USER;
    } catch {
    }
    module2.exports = {
      // database host. defaults to localhost
      host: "localhost",
      // database user's name
      user,
      // name of database to connect
      database: void 0,
      // database user's password
      password: null,
      // a Postgres connection string to be used instead of setting individual connection items
      // NOTE:  Setting this value will cause it to override any other value (such as database or user) defined
      // in the defaults object.
      connectionString: void 0,
      // database port
      port: 5432,
      // number of rows to return at a time from a prepared statement's
      // portal. 0 will return all rows at once
      rows: 0,
      // binary result mode
      binary: false,
      // Connection pool options - see https://github.com/brianc/node-pg-pool
      // number of connections to use in connection pool
      // 0 will disable connection pooling
      max: 10,
      // max milliseconds a client can go unused before it is removed
      // from the pool and destroyed
      idleTimeoutMillis: 3e4,
      client_encoding: "",
      ssl: false,
      // SSL negotiation style: 'postgres' (traditional SSLRequest) or 'direct'
      sslnegotiation: void 0,
      application_name: void 0,
      fallback_application_name: void 0,
      options: void 0,
      parseInputDatesAsUTC: false,
      // max milliseconds any query using this connection will execute for before timing out in error.
      // false=unlimited
      statement_timeout: false,
      // Abort any statement that waits longer than the specified duration in milliseconds while attempting to acquire a lock.
      // false=unlimited
      lock_timeout: false,
      // Terminate any session with an open transaction that has been idle for longer than the specified duration in milliseconds
      // false=unlimited
      idle_in_transaction_session_timeout: false,
      // max milliseconds to wait for query to complete (client side)
      query_timeout: false,
      connect_timeout: 0,
      keepalives: 1,
      keepalives_idle: 0
    };
    var pgTypes = require_pg_types();
    var parseBigInteger = pgTypes.getTypeParser(20, "text");
    var parseBigIntegerArray = pgTypes.getTypeParser(1016, "text");
    module2.exports.__defineSetter__("parseInt8", function(val) {
      pgTypes.setTypeParser(20, "text", val ? pgTypes.getTypeParser(23, "text") : parseBigInteger);
      pgTypes.setTypeParser(1016, "text", val ? pgTypes.getTypeParser(1007, "text") : parseBigIntegerArray);
    });
  }
});

// node_modules/pg/lib/utils.js
var require_utils = __commonJS({
  "node_modules/pg/lib/utils.js"(exports2, module2) {
    "use strict";
    var defaults2 = require_defaults();
    var nodeUtils = require("util");
    var { isDate } = require("util/types");
    var invalidDateDeprecationNotice = nodeUtils.deprecate(
      () => {
      },
      "Sending an invalid date to Postgres is deprecated and will throw an error in the next major version of pg. Ensure any Date object passed as a query parameter is valid.",
      "PG_INVALID_DATE"
    );
    function escapeElement(elementRepresentation) {
      const escaped = elementRepresentation.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
      return '"' + escaped + '"';
    }
    function arrayString(val) {
      let result = "{";
      for (let i = 0; i < val.length; i++) {
        if (i > 0) {
          result += ",";
        }
        let item = val[i];
        if (item == null) {
          result += "NULL";
        } else if (Array.isArray(item)) {
          result += arrayString(item);
        } else if (ArrayBuffer.isView(item)) {
          if (!(item instanceof Buffer)) {
            item = Buffer.from(item.buffer, item.byteOffset, item.byteLength);
          }
          result += "\\\\x" + item.toString("hex");
        } else {
          result += escapeElement(prepareValue(item));
        }
      }
      result += "}";
      return result;
    }
    var prepareValue = function(val, seen) {
      if (val == null) {
        return null;
      }
      if (typeof val === "object") {
        if (val instanceof Buffer) {
          return val;
        }
        if (ArrayBuffer.isView(val)) {
          return Buffer.from(val.buffer, val.byteOffset, val.byteLength);
        }
        if (isDate(val)) {
          if (isNaN(val.getTime())) {
            invalidDateDeprecationNotice();
          }
          if (defaults2.parseInputDatesAsUTC) {
            return dateToStringUTC(val);
          } else {
            return dateToString(val);
          }
        }
        if (Array.isArray(val)) {
          return arrayString(val);
        }
        return prepareObject(val, seen);
      }
      return val.toString();
    };
    function prepareObject(val, seen) {
      if (val && typeof val.toPostgres === "function") {
        seen = seen || [];
        if (seen.indexOf(val) !== -1) {
          throw new Error('circular reference detected while preparing "' + val + '" for query');
        }
        seen.push(val);
        return prepareValue(val.toPostgres(prepareValue), seen);
      }
      return JSON.stringify(val);
    }
    function dateToString(date) {
      let offset = -date.getTimezoneOffset();
      let year = date.getFullYear();
      const isBCYear = year < 1;
      if (isBCYear) year = Math.abs(year) + 1;
      let ret = String(year).padStart(4, "0") + "-" + String(date.getMonth() + 1).padStart(2, "0") + "-" + String(date.getDate()).padStart(2, "0") + "T" + String(date.getHours()).padStart(2, "0") + ":" + String(date.getMinutes()).padStart(2, "0") + ":" + String(date.getSeconds()).padStart(2, "0") + "." + String(date.getMilliseconds()).padStart(3, "0");
      if (offset < 0) {
        ret += "-";
        offset *= -1;
      } else {
        ret += "+";
      }
      ret += String(Math.floor(offset / 60)).padStart(2, "0") + ":" + String(offset % 60).padStart(2, "0");
      if (isBCYear) ret += " BC";
      return ret;
    }
    function dateToStringUTC(date) {
      let year = date.getUTCFullYear();
      const isBCYear = year < 1;
      if (isBCYear) year = Math.abs(year) + 1;
      let ret = String(year).padStart(4, "0") + "-" + String(date.getUTCMonth() + 1).padStart(2, "0") + "-" + String(date.getUTCDate()).padStart(2, "0") + "T" + String(date.getUTCHours()).padStart(2, "0") + ":" + String(date.getUTCMinutes()).padStart(2, "0") + ":" + String(date.getUTCSeconds()).padStart(2, "0") + "." + String(date.getUTCMilliseconds()).padStart(3, "0");
      ret += "+00:00";
      if (isBCYear) ret += " BC";
      return ret;
    }
    function normalizeQueryConfig(config, values, callback) {
      config = typeof config === "string" ? { text: config } : cloneQueryConfig(config);
      if (values) {
        if (typeof values === "function") {
          config.callback = values;
        } else {
          config.values = values;
        }
      }
      if (callback) {
        config.callback = callback;
      }
      return config;
    }
    function cloneQueryConfig(config) {
      if (config == null) {
        return config;
      }
      return Object.defineProperties(Object.create(Object.getPrototypeOf(config)), Object.getOwnPropertyDescriptors(config));
    }
    var escapeIdentifier2 = function(str) {
      return '"' + str.replace(/"/g, '""') + '"';
    };
    var escapeLiteral2 = function(str) {
      let hasBackslash = false;
      let escaped = "'";
      if (str == null) {
        return "''";
      }
      if (typeof str !== "string") {
        return "''";
      }
      for (let i = 0; i < str.length; i++) {
        const c = str[i];
        if (c === "'") {
          escaped += c + c;
        } else if (c === "\\") {
          escaped += c + c;
          hasBackslash = true;
        } else {
          escaped += c;
        }
      }
      escaped += "'";
      if (hasBackslash === true) {
        escaped = " E" + escaped;
      }
      return escaped;
    };
    module2.exports = {
      prepareValue: function prepareValueWrapper(value) {
        return prepareValue(value);
      },
      normalizeQueryConfig,
      escapeIdentifier: escapeIdentifier2,
      escapeLiteral: escapeLiteral2
    };
  }
});

// node_modules/pg/lib/crypto/utils.js
var require_utils2 = __commonJS({
  "node_modules/pg/lib/crypto/utils.js"(exports2, module2) {
    var nodeCrypto = require("crypto");
    module2.exports = {
      postgresMd5PasswordHash,
      randomBytes: randomBytes2,
      deriveKey,
      sha256,
      hashByName,
      hmacSha256,
      md5
    };
    var webCrypto = nodeCrypto.webcrypto || globalThis.crypto;
    var subtleCrypto = webCrypto.subtle;
    var textEncoder = new TextEncoder();
    function randomBytes2(length) {
      return webCrypto.getRandomValues(Buffer.alloc(length));
    }
    async function md5(string) {
      try {
        return nodeCrypto.createHash("md5").update(string, "utf-8").digest("hex");
      } catch (e) {
        const data = typeof string === "string" ? textEncoder.encode(string) : string;
        const hash = await subtleCrypto.digest("MD5", data);
        return Array.from(new Uint8Array(hash)).map((b) => b.toString(16).padStart(2, "0")).join("");
      }
    }
    async function postgresMd5PasswordHash(user, password, salt) {
      const inner = await md5(password + user);
      const outer = await md5(Buffer.concat([Buffer.from(inner), salt]));
      return "md5" + outer;
    }
    async function sha256(text) {
      return await subtleCrypto.digest("SHA-256", text);
    }
    async function hashByName(hashName, text) {
      return await subtleCrypto.digest(hashName, text);
    }
    async function hmacSha256(keyBuffer, msg) {
      const key = await subtleCrypto.importKey("raw", keyBuffer, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return await subtleCrypto.sign("HMAC", key, textEncoder.encode(msg));
    }
    async function deriveKey(password, salt, iterations) {
      const key = await subtleCrypto.importKey("raw", textEncoder.encode(password), "PBKDF2", false, ["deriveBits"]);
      const params = { name: "PBKDF2", hash: "SHA-256", salt, iterations };
      return await subtleCrypto.deriveBits(params, key, 32 * 8, ["deriveBits"]);
    }
  }
});

// node_modules/pg/lib/crypto/cert-signatures.js
var require_cert_signatures = __commonJS({
  "node_modules/pg/lib/crypto/cert-signatures.js"(exports2, module2) {
    function x509Error(msg, cert) {
      return new Error("SASL channel binding: " + msg + " when parsing public certificate " + cert.toString("base64"));
    }
    function readASN1Length(data, index) {
      let length = data[index++];
      if (length < 128) return { length, index };
      const lengthBytes = length & 127;
      if (lengthBytes > 4) throw x509Error("bad length", data);
      length = 0;
      for (let i = 0; i < lengthBytes; i++) {
        length = length << 8 | data[index++];
      }
      return { length, index };
    }
    function readASN1OID(data, index) {
      if (data[index++] !== 6) throw x509Error("non-OID data", data);
      const { length: OIDLength, index: indexAfterOIDLength } = readASN1Length(data, index);
      index = indexAfterOIDLength;
      const lastIndex = index + OIDLength;
      const byte1 = data[index++];
      let oid = (byte1 / 40 >> 0) + "." + byte1 % 40;
      while (index < lastIndex) {
        let value = 0;
        while (index < lastIndex) {
          const nextByte = data[index++];
          value = value << 7 | nextByte & 127;
          if (nextByte < 128) break;
        }
        oid += "." + value;
      }
      return { oid, index };
    }
    function expectASN1Seq(data, index) {
      if (data[index++] !== 48) throw x509Error("non-sequence data", data);
      return readASN1Length(data, index);
    }
    function signatureAlgorithmHashFromCertificate(data, index) {
      if (index === void 0) index = 0;
      index = expectASN1Seq(data, index).index;
      const { length: certInfoLength, index: indexAfterCertInfoLength } = expectASN1Seq(data, index);
      index = indexAfterCertInfoLength + certInfoLength;
      index = expectASN1Seq(data, index).index;
      const { oid, index: indexAfterOID } = readASN1OID(data, index);
      switch (oid) {
        // RSA
        case "1.2.840.113549.1.1.4":
          return "MD5";
        case "1.2.840.113549.1.1.5":
          return "SHA-1";
        case "1.2.840.113549.1.1.11":
          return "SHA-256";
        case "1.2.840.113549.1.1.12":
          return "SHA-384";
        case "1.2.840.113549.1.1.13":
          return "SHA-512";
        case "1.2.840.113549.1.1.14":
          return "SHA-224";
        case "1.2.840.113549.1.1.15":
          return "SHA512-224";
        case "1.2.840.113549.1.1.16":
          return "SHA512-256";
        // ECDSA
        case "1.2.840.10045.4.1":
          return "SHA-1";
        case "1.2.840.10045.4.3.1":
          return "SHA-224";
        case "1.2.840.10045.4.3.2":
          return "SHA-256";
        case "1.2.840.10045.4.3.3":
          return "SHA-384";
        case "1.2.840.10045.4.3.4":
          return "SHA-512";
        // RSASSA-PSS: hash is indicated separately
        case "1.2.840.113549.1.1.10": {
          index = indexAfterOID;
          index = expectASN1Seq(data, index).index;
          if (data[index++] !== 160) throw x509Error("non-tag data", data);
          index = readASN1Length(data, index).index;
          index = expectASN1Seq(data, index).index;
          const { oid: hashOID } = readASN1OID(data, index);
          switch (hashOID) {
            // standalone hash OIDs
            case "1.2.840.113549.2.5":
              return "MD5";
            case "1.3.14.3.2.26":
              return "SHA-1";
            case "2.16.840.1.101.3.4.2.1":
              return "SHA-256";
            case "2.16.840.1.101.3.4.2.2":
              return "SHA-384";
            case "2.16.840.1.101.3.4.2.3":
              return "SHA-512";
          }
          throw x509Error("unknown hash OID " + hashOID, data);
        }
        // Ed25519 -- see https://github.com/openssl/openssl/issues/15477
        case "1.3.101.110":
        case "1.3.101.112":
          return "SHA-512";
        // Ed448 -- still not in pg 17.2 (if supported, digest would be SHAKE256 x 64 bytes)
        case "1.3.101.111":
        case "1.3.101.113":
          throw x509Error("Ed448 certificate channel binding is not currently supported by Postgres");
      }
      throw x509Error("unknown OID " + oid, data);
    }
    module2.exports = { signatureAlgorithmHashFromCertificate };
  }
});

// node_modules/pg/lib/crypto/sasl.js
var require_sasl = __commonJS({
  "node_modules/pg/lib/crypto/sasl.js"(exports2, module2) {
    "use strict";
    var crypto2 = require_utils2();
    var { signatureAlgorithmHashFromCertificate } = require_cert_signatures();
    function saslprep(password) {
      const nonAsciiSpace = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
      const mappedToNothing = /[\u00AD\u034F\u1806\u180B\u180C\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
      return password.replace(nonAsciiSpace, " ").replace(mappedToNothing, "").normalize("NFKC");
    }
    var DEFAULT_MAX_SCRAM_ITERATIONS = 1e5;
    function startSession(mechanisms, stream, scramMaxIterations = DEFAULT_MAX_SCRAM_ITERATIONS) {
      const candidates = ["SCRAM-SHA-256"];
      if (stream) candidates.unshift("SCRAM-SHA-256-PLUS");
      const mechanism = candidates.find((candidate) => mechanisms.includes(candidate));
      if (!mechanism) {
        throw new Error("SASL: Only mechanism(s) " + candidates.join(" and ") + " are supported");
      }
      if (mechanism === "SCRAM-SHA-256-PLUS" && typeof stream.getPeerCertificate !== "function") {
        throw new Error("SASL: Mechanism SCRAM-SHA-256-PLUS requires a certificate");
      }
      const clientNonce = crypto2.randomBytes(18).toString("base64");
      const gs2Header = mechanism === "SCRAM-SHA-256-PLUS" ? "p=tls-server-end-point" : stream ? "y" : "n";
      return {
        mechanism,
        clientNonce,
        response: gs2Header + ",,n=*,r=" + clientNonce,
        message: "SASLInitialResponse",
        scramMaxIterations
      };
    }
    async function continueSession(session, password, serverData, stream) {
      if (session.message !== "SASLInitialResponse") {
        throw new Error("SASL: Last message was not SASLInitialResponse");
      }
      if (typeof password !== "string") {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string");
      }
      if (password === "") {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a non-empty string");
      }
      if (typeof serverData !== "string") {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: serverData must be a string");
      }
      const sv = parseServerFirstMessage(serverData);
      if (!sv.nonce.startsWith(session.clientNonce)) {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: server nonce does not start with client nonce");
      } else if (sv.nonce.length === session.clientNonce.length) {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: server nonce is too short");
      }
      const scramMaxIterations = typeof session.scramMaxIterations === "number" ? session.scramMaxIterations : DEFAULT_MAX_SCRAM_ITERATIONS;
      if (scramMaxIterations !== 0 && sv.iteration > scramMaxIterations) {
        throw new Error(
          "SASL: SCRAM-SERVER-FIRST-MESSAGE: iteration count " + sv.iteration + " exceeds scramMaxIterations of " + scramMaxIterations
        );
      }
      const clientFirstMessageBare = "n=*,r=" + session.clientNonce;
      const serverFirstMessage = "r=" + sv.nonce + ",s=" + sv.salt + ",i=" + sv.iteration;
      let channelBinding = stream ? "eSws" : "biws";
      if (session.mechanism === "SCRAM-SHA-256-PLUS") {
        const peerCert = stream.getPeerCertificate().raw;
        let hashName = signatureAlgorithmHashFromCertificate(peerCert);
        if (hashName === "MD5" || hashName === "SHA-1") hashName = "SHA-256";
        const certHash = await crypto2.hashByName(hashName, peerCert);
        const bindingData = Buffer.concat([Buffer.from("p=tls-server-end-point,,"), Buffer.from(certHash)]);
        channelBinding = bindingData.toString("base64");
      }
      const clientFinalMessageWithoutProof = "c=" + channelBinding + ",r=" + sv.nonce;
      const authMessage = clientFirstMessageBare + "," + serverFirstMessage + "," + clientFinalMessageWithoutProof;
      const saltBytes = Buffer.from(sv.salt, "base64");
      const saltedPassword = await crypto2.deriveKey(saslprep(password), saltBytes, sv.iteration);
      const clientKey = await crypto2.hmacSha256(saltedPassword, "Client Key");
      const storedKey = await crypto2.sha256(clientKey);
      const clientSignature = await crypto2.hmacSha256(storedKey, authMessage);
      const clientProof = xorBuffers(Buffer.from(clientKey), Buffer.from(clientSignature)).toString("base64");
      const serverKey = await crypto2.hmacSha256(saltedPassword, "Server Key");
      const serverSignatureBytes = await crypto2.hmacSha256(serverKey, authMessage);
      session.message = "SASLResponse";
      session.serverSignature = Buffer.from(serverSignatureBytes).toString("base64");
      session.response = clientFinalMessageWithoutProof + ",p=" + clientProof;
    }
    function finalizeSession(session, serverData) {
      if (session.message !== "SASLResponse") {
        throw new Error("SASL: Last message was not SASLResponse");
      }
      if (typeof serverData !== "string") {
        throw new Error("SASL: SCRAM-SERVER-FINAL-MESSAGE: serverData must be a string");
      }
      const { serverSignature } = parseServerFinalMessage(serverData);
      if (serverSignature !== session.serverSignature) {
        throw new Error("SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature does not match");
      }
    }
    function isPrintableChars(text) {
      if (typeof text !== "string") {
        throw new TypeError("SASL: text must be a string");
      }
      return text.split("").map((_, i) => text.charCodeAt(i)).every((c) => c >= 33 && c <= 43 || c >= 45 && c <= 126);
    }
    function isBase64(text) {
      return /^(?:[a-zA-Z0-9+/]{4})*(?:[a-zA-Z0-9+/]{2}==|[a-zA-Z0-9+/]{3}=)?$/.test(text);
    }
    function parseAttributePairs(text) {
      if (typeof text !== "string") {
        throw new TypeError("SASL: attribute pairs text must be a string");
      }
      return new Map(
        text.split(",").map((attrValue) => {
          if (!/^.=/.test(attrValue)) {
            throw new Error("SASL: Invalid attribute pair entry");
          }
          const name = attrValue[0];
          const value = attrValue.substring(2);
          return [name, value];
        })
      );
    }
    function parseServerFirstMessage(data) {
      const attrPairs = parseAttributePairs(data);
      const nonce = attrPairs.get("r");
      if (!nonce) {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: nonce missing");
      } else if (!isPrintableChars(nonce)) {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: nonce must only contain printable characters");
      }
      const salt = attrPairs.get("s");
      if (!salt) {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: salt missing");
      } else if (!isBase64(salt)) {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: salt must be base64");
      }
      const iterationText = attrPairs.get("i");
      if (!iterationText) {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: iteration missing");
      } else if (!/^[1-9][0-9]*$/.test(iterationText)) {
        throw new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: invalid iteration count");
      }
      const iteration = parseInt(iterationText, 10);
      return {
        nonce,
        salt,
        iteration
      };
    }
    function parseServerFinalMessage(serverData) {
      const attrPairs = parseAttributePairs(serverData);
      const error = attrPairs.get("e");
      const serverSignature = attrPairs.get("v");
      if (error) {
        throw new Error(`SASL: SCRAM-SERVER-FINAL-MESSAGE: server returned error: "${error}"`);
      }
      if (!serverSignature) {
        throw new Error("SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature is missing");
      } else if (!isBase64(serverSignature)) {
        throw new Error("SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature must be base64");
      }
      return {
        serverSignature
      };
    }
    function xorBuffers(a, b) {
      if (!Buffer.isBuffer(a)) {
        throw new TypeError("first argument must be a Buffer");
      }
      if (!Buffer.isBuffer(b)) {
        throw new TypeError("second argument must be a Buffer");
      }
      if (a.length !== b.length) {
        throw new Error("Buffer lengths must match");
      }
      if (a.length === 0) {
        throw new Error("Buffers cannot be empty");
      }
      return Buffer.from(a.map((_, i) => a[i] ^ b[i]));
    }
    module2.exports = {
      startSession,
      continueSession,
      finalizeSession,
      DEFAULT_MAX_SCRAM_ITERATIONS
    };
  }
});

// node_modules/pg/lib/type-overrides.js
var require_type_overrides = __commonJS({
  "node_modules/pg/lib/type-overrides.js"(exports2, module2) {
    "use strict";
    var types2 = require_pg_types();
    function TypeOverrides2(userTypes) {
      this._types = userTypes || types2;
      this.text = {};
      this.binary = {};
    }
    TypeOverrides2.prototype.getOverrides = function(format) {
      switch (format) {
        case "text":
          return this.text;
        case "binary":
          return this.binary;
        default:
          return {};
      }
    };
    TypeOverrides2.prototype.setTypeParser = function(oid, format, parseFn) {
      if (typeof format === "function") {
        parseFn = format;
        format = "text";
      }
      this.getOverrides(format)[oid] = parseFn;
    };
    TypeOverrides2.prototype.getTypeParser = function(oid, format) {
      format = format || "text";
      return this.getOverrides(format)[oid] || this._types.getTypeParser(oid, format);
    };
    module2.exports = TypeOverrides2;
  }
});

// node_modules/pg-connection-string/index.js
var require_pg_connection_string = __commonJS({
  "node_modules/pg-connection-string/index.js"(exports2, module2) {
    "use strict";
    function parse(str, options = {}) {
      if (str.charAt(0) === "/") {
        const config2 = str.split(" ");
        return { host: config2[0], database: config2[1] };
      }
      const config = /* @__PURE__ */ Object.create(null);
      let result;
      let dummyHost = false;
      if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(str)) {
        str = encodeURI(str).replace(/%25(\d\d)/g, "%$1");
      }
      try {
        try {
          result = new URL(str, "postgres://base");
        } catch (e) {
          result = new URL(str.replace("@/", "@___DUMMY___/"), "postgres://base");
          dummyHost = true;
        }
      } catch (err) {
        err.input && (err.input = "*****REDACTED*****");
        throw err;
      }
      for (const entry of result.searchParams.entries()) {
        config[entry[0]] = entry[1];
      }
      config.user = config.user || decodeURIComponent(result.username);
      config.password = config.password || decodeURIComponent(result.password);
      if (result.protocol == "socket:") {
        config.host = decodeURI(result.pathname);
        config.database = result.searchParams.get("db");
        config.client_encoding = result.searchParams.get("encoding");
        return config;
      }
      const hostname = (dummyHost ? "" : result.hostname).replace(/^\[(.+)\]$/, "$1");
      if (!config.host) {
        config.host = decodeURIComponent(hostname);
      } else if (hostname && /^%2f/i.test(hostname)) {
        result.pathname = hostname + result.pathname;
      }
      if (!config.port) {
        config.port = result.port;
      }
      const pathname = result.pathname.slice(1) || null;
      config.database = pathname ? decodeURI(pathname) : null;
      if (config.ssl === "true" || config.ssl === "1") {
        config.ssl = true;
      }
      if (config.ssl === "0") {
        config.ssl = false;
      }
      if (config.sslcert || config.sslkey || config.sslrootcert || config.sslmode) {
        config.ssl = {};
      }
      if (config.sslnegotiation === "direct" && config.ssl === void 0) {
        config.ssl = true;
      }
      const fs7 = config.sslcert || config.sslkey || config.sslrootcert ? require("fs") : null;
      if (config.sslcert) {
        config.ssl.cert = fs7.readFileSync(config.sslcert).toString();
      }
      if (config.sslkey) {
        config.ssl.key = fs7.readFileSync(config.sslkey).toString();
      }
      if (config.sslrootcert) {
        config.ssl.ca = fs7.readFileSync(config.sslrootcert).toString();
      }
      if (options.useLibpqCompat && config.uselibpqcompat) {
        throw new Error("Both useLibpqCompat and uselibpqcompat are set. Please use only one of them.");
      }
      if (config.uselibpqcompat === "true" || options.useLibpqCompat) {
        switch (config.sslmode) {
          case "disable": {
            config.ssl = false;
            break;
          }
          case "prefer": {
            config.ssl.rejectUnauthorized = false;
            break;
          }
          case "require": {
            if (config.sslrootcert) {
              config.ssl.checkServerIdentity = function() {
              };
            } else {
              config.ssl.rejectUnauthorized = false;
            }
            break;
          }
          case "verify-ca": {
            if (!config.ssl.ca) {
              throw new Error(
                "SECURITY WARNING: Using sslmode=verify-ca requires specifying a CA with sslrootcert. If a public CA is used, verify-ca allows connections to a server that somebody else may have registered with the CA, making you vulnerable to Man-in-the-Middle attacks. Either specify a custom CA certificate with sslrootcert parameter or use sslmode=verify-full for proper security."
              );
            }
            config.ssl.checkServerIdentity = function() {
            };
            break;
          }
          case "verify-full": {
            break;
          }
        }
      } else {
        switch (config.sslmode) {
          case "disable": {
            config.ssl = false;
            break;
          }
          case "prefer":
          case "require":
          case "verify-ca":
          case "verify-full": {
            if (config.sslmode !== "verify-full") {
              deprecatedSslModeWarning(config.sslmode);
            }
            break;
          }
          case "no-verify": {
            config.ssl.rejectUnauthorized = false;
            break;
          }
        }
      }
      return config;
    }
    function toConnectionOptions(sslConfig) {
      const connectionOptions = Object.entries(sslConfig).reduce((c, [key, value]) => {
        if (value !== void 0 && value !== null) {
          c[key] = value;
        }
        return c;
      }, /* @__PURE__ */ Object.create(null));
      return connectionOptions;
    }
    function toClientConfig(config) {
      const poolConfig = Object.entries(config).reduce((c, [key, value]) => {
        if (key === "ssl") {
          const sslConfig = value;
          if (typeof sslConfig === "boolean") {
            c[key] = sslConfig;
          }
          if (typeof sslConfig === "object") {
            c[key] = toConnectionOptions(sslConfig);
          }
        } else if (value !== void 0 && value !== null) {
          if (key === "port") {
            if (value !== "") {
              const v = parseInt(value, 10);
              if (isNaN(v)) {
                throw new Error(`Invalid ${key}: ${value}`);
              }
              c[key] = v;
            }
          } else {
            c[key] = value;
          }
        }
        return c;
      }, /* @__PURE__ */ Object.create(null));
      return poolConfig;
    }
    function parseIntoClientConfig(str) {
      return toClientConfig(parse(str));
    }
    function deprecatedSslModeWarning(sslmode) {
      if (!deprecatedSslModeWarning.warned && typeof process !== "undefined" && process.emitWarning) {
        deprecatedSslModeWarning.warned = true;
        process.emitWarning(`SECURITY WARNING: The SSL modes 'prefer', 'require', and 'verify-ca' are treated as aliases for 'verify-full'.
In the next major version (pg-connection-string v3.0.0 and pg v9.0.0), these modes will adopt standard libpq semantics, which have weaker security guarantees.

To prepare for this change:
- If you want the current behavior, explicitly use 'sslmode=verify-full'
- If you want libpq compatibility now, use 'uselibpqcompat=true&sslmode=${sslmode}'

See https://www.postgresql.org/docs/current/libpq-ssl.html for libpq SSL mode definitions.`);
      }
    }
    module2.exports = parse;
    parse.parse = parse;
    parse.toClientConfig = toClientConfig;
    parse.parseIntoClientConfig = parseIntoClientConfig;
  }
});

// node_modules/pg/lib/connection-parameters.js
var require_connection_parameters = __commonJS({
  "node_modules/pg/lib/connection-parameters.js"(exports2, module2) {
    "use strict";
    var dns = require("dns");
    var defaults2 = require_defaults();
    var parse = require_pg_connection_string().parse;
    var val = function(key, config, envVar) {
      if (config[key]) {
        return config[key];
      }
      if (envVar === void 0) {
        envVar = process.env["PG" + key.toUpperCase()];
      } else if (envVar === false) {
      } else {
        envVar = process.env[envVar];
      }
      return envVar || defaults2[key];
    };
    var readSSLConfigFromEnvironment = function() {
      switch (process.env.PGSSLMODE) {
        case "disable":
          return false;
        case "prefer":
        case "require":
        case "verify-ca":
        case "verify-full":
          return true;
        case "no-verify":
          return { rejectUnauthorized: false };
      }
      return defaults2.ssl;
    };
    var quoteParamValue = function(value) {
      return "'" + ("" + value).replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
    };
    var add = function(params, config, paramName) {
      const value = config[paramName];
      if (value !== void 0 && value !== null) {
        params.push(paramName + "=" + quoteParamValue(value));
      }
    };
    var ConnectionParameters = class {
      constructor(config) {
        config = typeof config === "string" ? parse(config) : config || {};
        if (config.connectionString) {
          config = Object.assign({}, config, parse(config.connectionString));
        }
        this.user = val("user", config);
        this.database = val("database", config);
        if (this.database === void 0) {
          this.database = this.user;
        }
        this.port = parseInt(val("port", config), 10);
        this.host = val("host", config);
        Object.defineProperty(this, "password", {
          configurable: true,
          enumerable: false,
          writable: true,
          value: val("password", config)
        });
        this.binary = val("binary", config);
        this.options = val("options", config);
        this.ssl = typeof config.ssl === "undefined" ? readSSLConfigFromEnvironment() : config.ssl;
        if (typeof this.ssl === "string") {
          if (this.ssl === "true") {
            this.ssl = true;
          }
        }
        if (this.ssl === "no-verify") {
          this.ssl = { rejectUnauthorized: false };
        }
        if (this.ssl && this.ssl.key) {
          Object.defineProperty(this.ssl, "key", {
            enumerable: false
          });
        }
        this.sslnegotiation = val("sslnegotiation", config, "PGSSLNEGOTIATION");
        if (this.sslnegotiation !== void 0 && this.sslnegotiation !== "postgres" && this.sslnegotiation !== "direct") {
          throw new Error(
            `Invalid sslnegotiation value: "${this.sslnegotiation}". Valid values are "postgres" and "direct".`
          );
        }
        if (this.sslnegotiation === "direct" && !this.ssl) {
          throw new Error("sslnegotiation=direct requires SSL to be enabled");
        }
        this.client_encoding = val("client_encoding", config);
        this.replication = val("replication", config);
        this.isDomainSocket = !(this.host || "").indexOf("/");
        this.application_name = val("application_name", config, "PGAPPNAME");
        this.fallback_application_name = val("fallback_application_name", config, false);
        this.statement_timeout = val("statement_timeout", config, false);
        this.lock_timeout = val("lock_timeout", config, false);
        this.idle_in_transaction_session_timeout = val("idle_in_transaction_session_timeout", config, false);
        this.query_timeout = val("query_timeout", config, false);
        if (config.connectionTimeoutMillis === void 0) {
          this.connect_timeout = process.env.PGCONNECT_TIMEOUT || 0;
        } else {
          this.connect_timeout = Math.floor(config.connectionTimeoutMillis / 1e3);
        }
        if (config.keepAlive === false) {
          this.keepalives = 0;
        } else if (config.keepAlive === true) {
          this.keepalives = 1;
        }
        if (typeof config.keepAliveInitialDelayMillis === "number") {
          this.keepalives_idle = Math.floor(config.keepAliveInitialDelayMillis / 1e3);
        }
      }
      getLibpqConnectionString(cb) {
        const params = [];
        add(params, this, "user");
        add(params, this, "password");
        add(params, this, "port");
        add(params, this, "application_name");
        add(params, this, "fallback_application_name");
        add(params, this, "connect_timeout");
        add(params, this, "options");
        const ssl = typeof this.ssl === "object" ? this.ssl : this.ssl ? { sslmode: this.ssl } : {};
        add(params, ssl, "sslmode");
        add(params, ssl, "sslca");
        add(params, ssl, "sslkey");
        add(params, ssl, "sslcert");
        add(params, ssl, "sslrootcert");
        add(params, this, "sslnegotiation");
        if (this.database) {
          params.push("dbname=" + quoteParamValue(this.database));
        }
        if (this.replication) {
          params.push("replication=" + quoteParamValue(this.replication));
        }
        if (this.host) {
          params.push("host=" + quoteParamValue(this.host));
        }
        if (this.isDomainSocket) {
          return cb(null, params.join(" "));
        }
        if (this.client_encoding) {
          params.push("client_encoding=" + quoteParamValue(this.client_encoding));
        }
        dns.lookup(this.host, function(err, address) {
          if (err) return cb(err, null);
          params.push("hostaddr=" + quoteParamValue(address));
          return cb(null, params.join(" "));
        });
      }
    };
    module2.exports = ConnectionParameters;
  }
});

// node_modules/pg/lib/result.js
var require_result = __commonJS({
  "node_modules/pg/lib/result.js"(exports2, module2) {
    "use strict";
    var types2 = require_pg_types();
    var matchRegexp = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/;
    var Result2 = class {
      constructor(rowMode, types3) {
        this.command = null;
        this.rowCount = null;
        this.oid = null;
        this.rows = [];
        this.fields = [];
        this._parsers = void 0;
        this._types = types3;
        this.RowCtor = null;
        this.rowAsArray = rowMode === "array";
        if (this.rowAsArray) {
          this.parseRow = this._parseRowAsArray;
        }
        this._prebuiltEmptyResultObject = null;
      }
      // adds a command complete message
      addCommandComplete(msg) {
        let match;
        if (msg.text) {
          match = matchRegexp.exec(msg.text);
        } else {
          match = matchRegexp.exec(msg.command);
        }
        if (match) {
          this.command = match[1];
          if (match[3]) {
            this.oid = parseInt(match[2], 10);
            this.rowCount = parseInt(match[3], 10);
          } else if (match[2]) {
            this.rowCount = parseInt(match[2], 10);
          }
        }
      }
      _parseRowAsArray(rowData) {
        const row = new Array(rowData.length);
        for (let i = 0, len = rowData.length; i < len; i++) {
          const rawValue = rowData[i];
          if (rawValue !== null) {
            row[i] = this._parsers[i](rawValue);
          } else {
            row[i] = null;
          }
        }
        return row;
      }
      parseRow(rowData) {
        const row = { ...this._prebuiltEmptyResultObject };
        for (let i = 0, len = rowData.length; i < len; i++) {
          const rawValue = rowData[i];
          const field = this.fields[i].name;
          if (rawValue !== null) {
            const v = this.fields[i].format === "binary" ? Buffer.from(rawValue) : rawValue;
            row[field] = this._parsers[i](v);
          } else {
            row[field] = null;
          }
        }
        return row;
      }
      addRow(row) {
        this.rows.push(row);
      }
      addFields(fieldDescriptions) {
        this.fields = fieldDescriptions;
        if (this.fields.length) {
          this._parsers = new Array(fieldDescriptions.length);
        }
        const row = /* @__PURE__ */ Object.create(null);
        for (let i = 0; i < fieldDescriptions.length; i++) {
          const desc = fieldDescriptions[i];
          row[desc.name] = null;
          if (this._types) {
            this._parsers[i] = this._types.getTypeParser(desc.dataTypeID, desc.format || "text");
          } else {
            this._parsers[i] = types2.getTypeParser(desc.dataTypeID, desc.format || "text");
          }
        }
        this._prebuiltEmptyResultObject = { ...row };
      }
    };
    module2.exports = Result2;
  }
});

// node_modules/pg/lib/query.js
var require_query = __commonJS({
  "node_modules/pg/lib/query.js"(exports2, module2) {
    "use strict";
    var { EventEmitter } = require("events");
    var Result2 = require_result();
    var utils = require_utils();
    var Query2 = class extends EventEmitter {
      constructor(config, values, callback) {
        super();
        config = utils.normalizeQueryConfig(config, values, callback);
        this.text = config.text;
        this.values = config.values;
        this.rows = config.rows;
        this.types = config.types;
        this.name = config.name;
        this.queryMode = config.queryMode;
        this.binary = config.binary;
        this.portal = config.portal || "";
        this.callback = config.callback;
        this._rowMode = config.rowMode;
        if (process.domain && config.callback) {
          this.callback = process.domain.bind(config.callback);
        }
        this._result = new Result2(this._rowMode, this.types);
        this._results = this._result;
        this._canceledDueToError = false;
      }
      requiresPreparation() {
        if (this.queryMode === "extended") {
          return true;
        }
        if (this.name) {
          return true;
        }
        if (this.rows) {
          return true;
        }
        if (!this.text) {
          return false;
        }
        if (!this.values) {
          return false;
        }
        return this.values.length > 0;
      }
      _checkForMultirow() {
        if (this._result.command) {
          if (!Array.isArray(this._results)) {
            this._results = [this._result];
          }
          this._result = new Result2(this._rowMode, this._result._types);
          this._results.push(this._result);
        }
      }
      // associates row metadata from the supplied
      // message with this query object
      // metadata used when parsing row results
      handleRowDescription(msg) {
        this._checkForMultirow();
        this._result.addFields(msg.fields);
        this._accumulateRows = this.callback || !this.listeners("row").length;
      }
      handleDataRow(msg) {
        let row;
        if (this._canceledDueToError) {
          return;
        }
        try {
          row = this._result.parseRow(msg.fields);
        } catch (err) {
          this._canceledDueToError = err;
          return;
        }
        this.emit("row", row, this._result);
        if (this._accumulateRows) {
          this._result.addRow(row);
        }
      }
      handleCommandComplete(msg, connection) {
        this._checkForMultirow();
        this._result.addCommandComplete(msg);
        if (this.rows) {
          connection.sync();
        }
      }
      // if a named prepared statement is created with empty query text
      // the backend will send an emptyQuery message but *not* a command complete message
      // since we pipeline sync immediately after execute we don't need to do anything here
      // unless we have rows specified, in which case we did not pipeline the initial sync call
      handleEmptyQuery(connection) {
        if (this.rows) {
          connection.sync();
        }
      }
      handleError(err, connection) {
        if (this._canceledDueToError) {
          err = this._canceledDueToError;
          this._canceledDueToError = false;
        }
        if (this.callback) {
          return this.callback(err);
        }
        this.emit("error", err);
      }
      handleReadyForQuery(con) {
        if (this._canceledDueToError) {
          return this.handleError(this._canceledDueToError, con);
        }
        if (this.callback) {
          try {
            this.callback(null, this._results);
          } catch (err) {
            process.nextTick(() => {
              throw err;
            });
          }
        }
        this.emit("end", this._results);
      }
      submit(connection) {
        if (typeof this.text !== "string" && typeof this.name !== "string") {
          return new Error("A query must have either text or a name. Supplying neither is unsupported.");
        }
        const previous = connection.parsedStatements[this.name] || connection.submittedNamedStatements[this.name];
        if (this.text && previous && this.text !== previous) {
          return new Error(`Prepared statements must be unique - '${this.name}' was used for a different statement`);
        }
        if (this.values && !Array.isArray(this.values)) {
          return new Error("Query values must be an array");
        }
        if (this.requiresPreparation()) {
          connection.stream.cork && connection.stream.cork();
          try {
            this.prepare(connection);
          } finally {
            connection.stream.uncork && connection.stream.uncork();
          }
        } else {
          connection.query(this.text);
        }
        return null;
      }
      hasBeenParsed(connection) {
        return this.name && (connection.parsedStatements[this.name] !== void 0 || connection.submittedNamedStatements[this.name] !== void 0);
      }
      handlePortalSuspended(connection) {
        this._getRows(connection, this.rows);
      }
      _getRows(connection, rows) {
        connection.execute({
          portal: this.portal,
          rows
        });
        if (!rows) {
          connection.sync();
        } else {
          connection.flush();
        }
      }
      // http://developer.postgresql.org/pgdocs/postgres/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
      prepare(connection) {
        if (!this.hasBeenParsed(connection)) {
          connection.parse({
            text: this.text,
            name: this.name,
            types: this.types
          });
          if (this.name) {
            connection.submittedNamedStatements[this.name] = this.text;
          }
        }
        try {
          connection.bind({
            portal: this.portal,
            statement: this.name,
            values: this.values,
            binary: this.binary,
            valueMapper: utils.prepareValue
          });
        } catch (err) {
          connection.close({ type: "S", name: this.name });
          connection.sync();
          this.handleError(err, connection);
          return;
        }
        connection.describe({
          type: "P",
          name: this.portal || ""
        });
        this._getRows(connection, this.rows);
      }
      handleCopyInResponse(connection) {
        connection.sendCopyFail("No source stream defined");
      }
      handleCopyData(msg, connection) {
      }
    };
    module2.exports = Query2;
  }
});

// node_modules/pg-protocol/dist/messages.js
var require_messages = __commonJS({
  "node_modules/pg-protocol/dist/messages.js"(exports2) {
    "use strict";
    Object.defineProperty(exports2, "__esModule", { value: true });
    exports2.NoticeMessage = exports2.DataRowMessage = exports2.CommandCompleteMessage = exports2.ReadyForQueryMessage = exports2.NotificationResponseMessage = exports2.BackendKeyDataMessage = exports2.AuthenticationMD5Password = exports2.ParameterStatusMessage = exports2.ParameterDescriptionMessage = exports2.RowDescriptionMessage = exports2.Field = exports2.CopyResponse = exports2.CopyDataMessage = exports2.DatabaseError = exports2.copyDone = exports2.emptyQuery = exports2.replicationStart = exports2.portalSuspended = exports2.noData = exports2.closeComplete = exports2.bindComplete = exports2.parseComplete = void 0;
    exports2.parseComplete = {
      name: "parseComplete",
      length: 5
    };
    exports2.bindComplete = {
      name: "bindComplete",
      length: 5
    };
    exports2.closeComplete = {
      name: "closeComplete",
      length: 5
    };
    exports2.noData = {
      name: "noData",
      length: 5
    };
    exports2.portalSuspended = {
      name: "portalSuspended",
      length: 5
    };
    exports2.replicationStart = {
      name: "replicationStart",
      length: 4
    };
    exports2.emptyQuery = {
      name: "emptyQuery",
      length: 4
    };
    exports2.copyDone = {
      name: "copyDone",
      length: 4
    };
    var DatabaseError2 = class extends Error {
      constructor(message, length, name) {
        super(message);
        this.length = length;
        this.name = name;
      }
    };
    exports2.DatabaseError = DatabaseError2;
    var CopyDataMessage = class {
      constructor(length, chunk) {
        this.length = length;
        this.chunk = chunk;
        this.name = "copyData";
      }
    };
    exports2.CopyDataMessage = CopyDataMessage;
    var CopyResponse = class {
      constructor(length, name, binary, columnCount) {
        this.length = length;
        this.name = name;
        this.binary = binary;
        this.columnTypes = new Array(columnCount);
      }
    };
    exports2.CopyResponse = CopyResponse;
    var Field = class {
      constructor(name, tableID, columnID, dataTypeID, dataTypeSize, dataTypeModifier, format) {
        this.name = name;
        this.tableID = tableID;
        this.columnID = columnID;
        this.dataTypeID = dataTypeID;
        this.dataTypeSize = dataTypeSize;
        this.dataTypeModifier = dataTypeModifier;
        this.format = format;
      }
    };
    exports2.Field = Field;
    var RowDescriptionMessage = class {
      constructor(length, fieldCount) {
        this.length = length;
        this.fieldCount = fieldCount;
        this.name = "rowDescription";
        this.fields = new Array(this.fieldCount);
      }
    };
    exports2.RowDescriptionMessage = RowDescriptionMessage;
    var ParameterDescriptionMessage = class {
      constructor(length, parameterCount) {
        this.length = length;
        this.parameterCount = parameterCount;
        this.name = "parameterDescription";
        this.dataTypeIDs = new Array(this.parameterCount);
      }
    };
    exports2.ParameterDescriptionMessage = ParameterDescriptionMessage;
    var ParameterStatusMessage = class {
      constructor(length, parameterName, parameterValue) {
        this.length = length;
        this.parameterName = parameterName;
        this.parameterValue = parameterValue;
        this.name = "parameterStatus";
      }
    };
    exports2.ParameterStatusMessage = ParameterStatusMessage;
    var AuthenticationMD5Password = class {
      constructor(length, salt) {
        this.length = length;
        this.salt = salt;
        this.name = "authenticationMD5Password";
      }
    };
    exports2.AuthenticationMD5Password = AuthenticationMD5Password;
    var BackendKeyDataMessage = class {
      constructor(length, processID, secretKey) {
        this.length = length;
        this.processID = processID;
        this.secretKey = secretKey;
        this.name = "backendKeyData";
      }
    };
    exports2.BackendKeyDataMessage = BackendKeyDataMessage;
    var NotificationResponseMessage = class {
      constructor(length, processId, channel, payload) {
        this.length = length;
        this.processId = processId;
        this.channel = channel;
        this.payload = payload;
        this.name = "notification";
      }
    };
    exports2.NotificationResponseMessage = NotificationResponseMessage;
    var ReadyForQueryMessage = class {
      constructor(length, status) {
        this.length = length;
        this.status = status;
        this.name = "readyForQuery";
      }
    };
    exports2.ReadyForQueryMessage = ReadyForQueryMessage;
    var CommandCompleteMessage = class {
      constructor(length, text) {
        this.length = length;
        this.text = text;
        this.name = "commandComplete";
      }
    };
    exports2.CommandCompleteMessage = CommandCompleteMessage;
    var DataRowMessage = class {
      constructor(length, fields) {
        this.length = length;
        this.fields = fields;
        this.name = "dataRow";
        this.fieldCount = fields.length;
      }
    };
    exports2.DataRowMessage = DataRowMessage;
    var NoticeMessage = class {
      constructor(length, message) {
        this.length = length;
        this.message = message;
        this.name = "notice";
      }
    };
    exports2.NoticeMessage = NoticeMessage;
  }
});

// node_modules/pg-protocol/dist/buffer-writer.js
var require_buffer_writer = __commonJS({
  "node_modules/pg-protocol/dist/buffer-writer.js"(exports2) {
    "use strict";
    Object.defineProperty(exports2, "__esModule", { value: true });
    exports2.Writer = void 0;
    var Writer = class {
      constructor(size = 256) {
        this.size = size;
        this.offset = 5;
        this.headerPosition = 0;
        this.buffer = Buffer.allocUnsafe(size);
      }
      ensure(size) {
        const remaining = this.buffer.length - this.offset;
        if (remaining < size) {
          const oldBuffer = this.buffer;
          const newSize = oldBuffer.length + (oldBuffer.length >> 1) + size;
          this.buffer = Buffer.allocUnsafe(newSize);
          oldBuffer.copy(this.buffer, 0, 0, this.offset);
        }
      }
      addInt32(num) {
        this.ensure(4);
        this.buffer[this.offset++] = num >>> 24 & 255;
        this.buffer[this.offset++] = num >>> 16 & 255;
        this.buffer[this.offset++] = num >>> 8 & 255;
        this.buffer[this.offset++] = num >>> 0 & 255;
        return this;
      }
      addInt16(num) {
        this.ensure(2);
        this.buffer[this.offset++] = num >>> 8 & 255;
        this.buffer[this.offset++] = num >>> 0 & 255;
        return this;
      }
      addCString(string) {
        if (!string) {
          this.ensure(1);
        } else {
          const len = Buffer.byteLength(string);
          this.ensure(len + 1);
          this.buffer.write(string, this.offset, "utf-8");
          this.offset += len;
        }
        this.buffer[this.offset++] = 0;
        return this;
      }
      addString(string = "") {
        const len = Buffer.byteLength(string);
        this.ensure(len);
        this.buffer.write(string, this.offset);
        this.offset += len;
        return this;
      }
      // Write an Int32 byte-length prefix immediately followed by the string's UTF-8
      // bytes. Postgres' Bind wire format prefixes every parameter with its length,
      // and doing it in one method computes Buffer.byteLength ONCE — the previous
      // `addInt32(Buffer.byteLength(s)).addString(s)` pairing scanned the string
      // three times (byteLength for the prefix, byteLength again inside addString,
      // then the encode), which is costly for large text parameters.
      addInt32PrefixedString(string) {
        const len = Buffer.byteLength(string);
        this.ensure(4 + len);
        const buffer = this.buffer;
        let offset = this.offset;
        buffer[offset++] = len >>> 24 & 255;
        buffer[offset++] = len >>> 16 & 255;
        buffer[offset++] = len >>> 8 & 255;
        buffer[offset++] = len >>> 0 & 255;
        buffer.write(string, offset, "utf-8");
        this.offset = offset + len;
        return this;
      }
      add(otherBuffer) {
        this.ensure(otherBuffer.length);
        otherBuffer.copy(this.buffer, this.offset);
        this.offset += otherBuffer.length;
        return this;
      }
      /**
       * Appends an uninitialized block of {@link size} bytes to the buffer and returns its offset.
       */
      reserveUnsafe(size) {
        const offset = this.offset;
        this.ensure(size);
        this.offset += size;
        return offset;
      }
      join(code) {
        if (code) {
          this.buffer[this.headerPosition] = code;
          const length = this.offset - (this.headerPosition + 1);
          this.buffer.writeInt32BE(length, this.headerPosition + 1);
        }
        return this.buffer.slice(code ? 0 : 5, this.offset);
      }
      flush(code) {
        const result = this.join(code);
        this.offset = 5;
        this.headerPosition = 0;
        this.buffer = Buffer.allocUnsafe(this.size);
        return result;
      }
      clear() {
        this.offset = 5;
        this.headerPosition = 0;
      }
    };
    exports2.Writer = Writer;
  }
});

// node_modules/pg-protocol/dist/serializer.js
var require_serializer = __commonJS({
  "node_modules/pg-protocol/dist/serializer.js"(exports2) {
    "use strict";
    Object.defineProperty(exports2, "__esModule", { value: true });
    exports2.serialize = void 0;
    var buffer_writer_1 = require_buffer_writer();
    var writer = new buffer_writer_1.Writer();
    var startup = (opts) => {
      writer.addInt16(3).addInt16(0);
      for (const key of Object.keys(opts)) {
        writer.addCString(key).addCString(opts[key]);
      }
      writer.addCString("client_encoding").addCString("UTF8");
      const bodyBuffer = writer.addCString("").flush();
      const length = bodyBuffer.length + 4;
      return new buffer_writer_1.Writer().addInt32(length).add(bodyBuffer).flush();
    };
    var requestSsl = () => {
      const response = Buffer.allocUnsafe(8);
      response.writeInt32BE(8, 0);
      response.writeInt32BE(80877103, 4);
      return response;
    };
    var password = (password2) => {
      return writer.addCString(password2).flush(
        112
        /* code.startup */
      );
    };
    var sendSASLInitialResponseMessage = function(mechanism, initialResponse) {
      writer.addCString(mechanism).addInt32PrefixedString(initialResponse);
      return writer.flush(
        112
        /* code.startup */
      );
    };
    var sendSCRAMClientFinalMessage = function(additionalData) {
      return writer.addString(additionalData).flush(
        112
        /* code.startup */
      );
    };
    var query = (text) => {
      return writer.addCString(text).flush(
        81
        /* code.query */
      );
    };
    var emptyArray = [];
    var parse = (query2) => {
      const name = query2.name || "";
      if (name.length > 63) {
        console.error("Warning! Postgres only supports 63 characters for query names.");
        console.error("You supplied %s (%s)", name, name.length);
        console.error("This can cause conflicts and silent errors executing queries");
      }
      const types2 = query2.types || emptyArray;
      const len = types2.length;
      const buffer = writer.addCString(name).addCString(query2.text).addInt16(len);
      for (let i = 0; i < len; i++) {
        buffer.addInt32(types2[i]);
      }
      return writer.flush(
        80
        /* code.parse */
      );
    };
    var writeValues = function(values, valueMapper, formatsOffset) {
      const len = values.length;
      for (let i = 0; i < len; i++) {
        const mappedVal = valueMapper ? valueMapper(values[i], i) : values[i];
        let formatByte = 0;
        if (mappedVal == null) {
          writer.addInt32(-1);
        } else if (mappedVal instanceof Buffer) {
          formatByte = 1;
          writer.addInt32(mappedVal.length);
          writer.add(mappedVal);
        } else {
          writer.addInt32PrefixedString(mappedVal);
        }
        const buf = writer.buffer;
        buf[formatsOffset++] = 0;
        buf[formatsOffset++] = formatByte;
      }
    };
    var bind = (config = {}) => {
      const portal = config.portal || "";
      const statement = config.statement || "";
      const binary = config.binary || false;
      const values = config.values || emptyArray;
      const len = values.length;
      writer.addCString(portal).addCString(statement);
      writer.addInt16(len);
      const formatsOffset = writer.reserveUnsafe(len * 2);
      writer.addInt16(len);
      try {
        writeValues(values, config.valueMapper, formatsOffset);
      } catch (err) {
        writer.clear();
        throw err;
      }
      writer.addInt16(1);
      writer.addInt16(
        binary ? 1 : 0
        /* ParamType.STRING */
      );
      return writer.flush(
        66
        /* code.bind */
      );
    };
    var emptyExecute = Buffer.from([69, 0, 0, 0, 9, 0, 0, 0, 0, 0]);
    var execute = (config) => {
      if (!config || !config.portal && !config.rows) {
        return emptyExecute;
      }
      const portal = config.portal || "";
      const rows = config.rows || 0;
      const portalLength = Buffer.byteLength(portal);
      const len = 4 + portalLength + 1 + 4;
      const buff = Buffer.allocUnsafe(1 + len);
      buff[0] = 69;
      buff.writeInt32BE(len, 1);
      buff.write(portal, 5, "utf-8");
      buff[portalLength + 5] = 0;
      buff.writeUInt32BE(rows, buff.length - 4);
      return buff;
    };
    var cancel = (processID, secretKey) => {
      const buffer = Buffer.allocUnsafe(16);
      buffer.writeInt32BE(16, 0);
      buffer.writeInt16BE(1234, 4);
      buffer.writeInt16BE(5678, 6);
      buffer.writeInt32BE(processID, 8);
      buffer.writeInt32BE(secretKey, 12);
      return buffer;
    };
    var cstringMessage = (code, string) => {
      const stringLen = Buffer.byteLength(string);
      const len = 4 + stringLen + 1;
      const buffer = Buffer.allocUnsafe(1 + len);
      buffer[0] = code;
      buffer.writeInt32BE(len, 1);
      buffer.write(string, 5, "utf-8");
      buffer[len] = 0;
      return buffer;
    };
    var emptyDescribePortal = writer.addCString("P").flush(
      68
      /* code.describe */
    );
    var emptyDescribeStatement = writer.addCString("S").flush(
      68
      /* code.describe */
    );
    var describe2 = (msg) => {
      return msg.name ? cstringMessage(68, `${msg.type}${msg.name || ""}`) : msg.type === "P" ? emptyDescribePortal : emptyDescribeStatement;
    };
    var close = (msg) => {
      const text = `${msg.type}${msg.name || ""}`;
      return cstringMessage(67, text);
    };
    var copyData = (chunk) => {
      return writer.add(chunk).flush(
        100
        /* code.copyFromChunk */
      );
    };
    var copyFail = (message) => {
      return cstringMessage(102, message);
    };
    var codeOnlyBuffer = (code) => Buffer.from([code, 0, 0, 0, 4]);
    var flushBuffer = codeOnlyBuffer(
      72
      /* code.flush */
    );
    var syncBuffer = codeOnlyBuffer(
      83
      /* code.sync */
    );
    var endBuffer = codeOnlyBuffer(
      88
      /* code.end */
    );
    var copyDoneBuffer = codeOnlyBuffer(
      99
      /* code.copyDone */
    );
    var serialize = {
      startup,
      password,
      requestSsl,
      sendSASLInitialResponseMessage,
      sendSCRAMClientFinalMessage,
      query,
      parse,
      bind,
      execute,
      describe: describe2,
      close,
      flush: () => flushBuffer,
      sync: () => syncBuffer,
      end: () => endBuffer,
      copyData,
      copyDone: () => copyDoneBuffer,
      copyFail,
      cancel
    };
    exports2.serialize = serialize;
  }
});

// node_modules/pg-protocol/dist/buffer-reader.js
var require_buffer_reader = __commonJS({
  "node_modules/pg-protocol/dist/buffer-reader.js"(exports2) {
    "use strict";
    Object.defineProperty(exports2, "__esModule", { value: true });
    exports2.BufferReader = void 0;
    var BufferReader = class {
      constructor(offset = 0) {
        this.offset = offset;
        this.buffer = Buffer.allocUnsafe(0);
        this.encoding = "utf-8";
      }
      setBuffer(offset, buffer) {
        this.offset = offset;
        this.buffer = buffer;
      }
      int16() {
        const result = this.buffer.readInt16BE(this.offset);
        this.offset += 2;
        return result;
      }
      byte() {
        const result = this.buffer[this.offset];
        this.offset++;
        return result;
      }
      int32() {
        const result = this.buffer.readInt32BE(this.offset);
        this.offset += 4;
        return result;
      }
      uint32() {
        const result = this.buffer.readUInt32BE(this.offset);
        this.offset += 4;
        return result;
      }
      string(length) {
        const result = this.buffer.toString(this.encoding, this.offset, this.offset + length);
        this.offset += length;
        return result;
      }
      cstring() {
        const start = this.offset;
        let end = start;
        while (this.buffer[end++]) {
        }
        this.offset = end;
        return this.buffer.toString(this.encoding, start, end - 1);
      }
      bytes(length) {
        const result = this.buffer.slice(this.offset, this.offset + length);
        this.offset += length;
        return result;
      }
    };
    exports2.BufferReader = BufferReader;
  }
});

// node_modules/pg-protocol/dist/parser.js
var require_parser = __commonJS({
  "node_modules/pg-protocol/dist/parser.js"(exports2) {
    "use strict";
    Object.defineProperty(exports2, "__esModule", { value: true });
    exports2.Parser = void 0;
    var messages_1 = require_messages();
    var buffer_reader_1 = require_buffer_reader();
    var CODE_LENGTH = 1;
    var LEN_LENGTH = 4;
    var HEADER_LENGTH = CODE_LENGTH + LEN_LENGTH;
    var LATEINIT_LENGTH = -1;
    var emptyBuffer = Buffer.allocUnsafe(0);
    var Parser = class {
      constructor(opts) {
        this.buffer = emptyBuffer;
        this.bufferLength = 0;
        this.bufferOffset = 0;
        this.reader = new buffer_reader_1.BufferReader();
        if ((opts === null || opts === void 0 ? void 0 : opts.mode) === "binary") {
          throw new Error("Binary mode not supported yet");
        }
        this.mode = (opts === null || opts === void 0 ? void 0 : opts.mode) || "text";
      }
      parse(buffer, callback) {
        this.mergeBuffer(buffer);
        const bufferFullLength = this.bufferOffset + this.bufferLength;
        let offset = this.bufferOffset;
        while (offset + HEADER_LENGTH <= bufferFullLength) {
          const code = this.buffer[offset];
          const length = this.buffer.readUInt32BE(offset + CODE_LENGTH);
          const fullMessageLength = CODE_LENGTH + length;
          if (fullMessageLength + offset <= bufferFullLength) {
            const message = this.handlePacket(offset + HEADER_LENGTH, code, length, this.buffer);
            callback(message);
            offset += fullMessageLength;
          } else {
            break;
          }
        }
        if (offset === bufferFullLength) {
          this.buffer = emptyBuffer;
          this.bufferLength = 0;
          this.bufferOffset = 0;
        } else {
          this.bufferLength = bufferFullLength - offset;
          this.bufferOffset = offset;
        }
      }
      mergeBuffer(buffer) {
        if (this.bufferLength > 0) {
          const newLength = this.bufferLength + buffer.byteLength;
          const newFullLength = newLength + this.bufferOffset;
          if (newFullLength > this.buffer.byteLength) {
            let newBuffer;
            if (newLength <= this.buffer.byteLength && this.bufferOffset >= this.bufferLength) {
              newBuffer = this.buffer;
            } else {
              let newBufferLength = this.buffer.byteLength * 2;
              while (newLength >= newBufferLength) {
                newBufferLength *= 2;
              }
              newBuffer = Buffer.allocUnsafe(newBufferLength);
            }
            this.buffer.copy(newBuffer, 0, this.bufferOffset, this.bufferOffset + this.bufferLength);
            this.buffer = newBuffer;
            this.bufferOffset = 0;
          }
          buffer.copy(this.buffer, this.bufferOffset + this.bufferLength);
          this.bufferLength = newLength;
        } else {
          this.buffer = buffer;
          this.bufferOffset = 0;
          this.bufferLength = buffer.byteLength;
        }
      }
      handlePacket(offset, code, length, bytes) {
        const { reader } = this;
        reader.setBuffer(offset, bytes);
        let message;
        switch (code) {
          case 50:
            message = messages_1.bindComplete;
            break;
          case 49:
            message = messages_1.parseComplete;
            break;
          case 51:
            message = messages_1.closeComplete;
            break;
          case 110:
            message = messages_1.noData;
            break;
          case 115:
            message = messages_1.portalSuspended;
            break;
          case 99:
            message = messages_1.copyDone;
            break;
          case 87:
            message = messages_1.replicationStart;
            break;
          case 73:
            message = messages_1.emptyQuery;
            break;
          case 68:
            message = parseDataRowMessage(reader);
            break;
          case 67:
            message = parseCommandCompleteMessage(reader);
            break;
          case 90:
            message = parseReadyForQueryMessage(reader);
            break;
          case 65:
            message = parseNotificationMessage(reader);
            break;
          case 82:
            message = parseAuthenticationResponse(reader, length);
            break;
          case 83:
            message = parseParameterStatusMessage(reader);
            break;
          case 75:
            message = parseBackendKeyData(reader);
            break;
          case 69:
            message = parseErrorMessage(reader, "error");
            break;
          case 78:
            message = parseErrorMessage(reader, "notice");
            break;
          case 84:
            message = parseRowDescriptionMessage(reader);
            break;
          case 116:
            message = parseParameterDescriptionMessage(reader);
            break;
          case 71:
            message = parseCopyInMessage(reader);
            break;
          case 72:
            message = parseCopyOutMessage(reader);
            break;
          case 100:
            message = parseCopyData(reader, length);
            break;
          default:
            return new messages_1.DatabaseError("received invalid response: " + code.toString(16), length, "error");
        }
        reader.setBuffer(0, emptyBuffer);
        message.length = length;
        return message;
      }
    };
    exports2.Parser = Parser;
    var parseReadyForQueryMessage = (reader) => {
      const status = reader.string(1);
      return new messages_1.ReadyForQueryMessage(LATEINIT_LENGTH, status);
    };
    var parseCommandCompleteMessage = (reader) => {
      const text = reader.cstring();
      return new messages_1.CommandCompleteMessage(LATEINIT_LENGTH, text);
    };
    var parseCopyData = (reader, length) => {
      const chunk = reader.bytes(length - 4);
      return new messages_1.CopyDataMessage(LATEINIT_LENGTH, chunk);
    };
    var parseCopyInMessage = (reader) => parseCopyMessage(reader, "copyInResponse");
    var parseCopyOutMessage = (reader) => parseCopyMessage(reader, "copyOutResponse");
    var parseCopyMessage = (reader, messageName) => {
      const isBinary = reader.byte() !== 0;
      const columnCount = reader.int16();
      const message = new messages_1.CopyResponse(LATEINIT_LENGTH, messageName, isBinary, columnCount);
      for (let i = 0; i < columnCount; i++) {
        message.columnTypes[i] = reader.int16();
      }
      return message;
    };
    var parseNotificationMessage = (reader) => {
      const processId = reader.int32();
      const channel = reader.cstring();
      const payload = reader.cstring();
      return new messages_1.NotificationResponseMessage(LATEINIT_LENGTH, processId, channel, payload);
    };
    var parseRowDescriptionMessage = (reader) => {
      const fieldCount = reader.int16();
      const message = new messages_1.RowDescriptionMessage(LATEINIT_LENGTH, fieldCount);
      for (let i = 0; i < fieldCount; i++) {
        message.fields[i] = parseField(reader);
      }
      return message;
    };
    var parseField = (reader) => {
      const name = reader.cstring();
      const tableID = reader.uint32();
      const columnID = reader.int16();
      const dataTypeID = reader.uint32();
      const dataTypeSize = reader.int16();
      const dataTypeModifier = reader.int32();
      const mode = reader.int16() === 0 ? "text" : "binary";
      return new messages_1.Field(name, tableID, columnID, dataTypeID, dataTypeSize, dataTypeModifier, mode);
    };
    var parseParameterDescriptionMessage = (reader) => {
      const parameterCount = reader.int16();
      const message = new messages_1.ParameterDescriptionMessage(LATEINIT_LENGTH, parameterCount);
      for (let i = 0; i < parameterCount; i++) {
        message.dataTypeIDs[i] = reader.uint32();
      }
      return message;
    };
    var parseDataRowMessage = (reader) => {
      const fieldCount = reader.int16();
      const fields = new Array(fieldCount);
      for (let i = 0; i < fieldCount; i++) {
        const len = reader.int32();
        fields[i] = len === -1 ? null : reader.string(len);
      }
      return new messages_1.DataRowMessage(LATEINIT_LENGTH, fields);
    };
    var parseParameterStatusMessage = (reader) => {
      const name = reader.cstring();
      const value = reader.cstring();
      return new messages_1.ParameterStatusMessage(LATEINIT_LENGTH, name, value);
    };
    var parseBackendKeyData = (reader) => {
      const processID = reader.int32();
      const secretKey = reader.int32();
      return new messages_1.BackendKeyDataMessage(LATEINIT_LENGTH, processID, secretKey);
    };
    var parseAuthenticationResponse = (reader, length) => {
      const code = reader.int32();
      const message = {
        name: "authenticationOk",
        length
      };
      switch (code) {
        case 0:
          break;
        case 3:
          if (message.length === 8) {
            message.name = "authenticationCleartextPassword";
          }
          break;
        case 5:
          if (message.length === 12) {
            message.name = "authenticationMD5Password";
            const salt = reader.bytes(4);
            return new messages_1.AuthenticationMD5Password(LATEINIT_LENGTH, salt);
          }
          break;
        case 10:
          {
            message.name = "authenticationSASL";
            message.mechanisms = [];
            let mechanism;
            do {
              mechanism = reader.cstring();
              if (mechanism) {
                message.mechanisms.push(mechanism);
              }
            } while (mechanism);
          }
          break;
        case 11:
          message.name = "authenticationSASLContinue";
          message.data = reader.string(length - 8);
          break;
        case 12:
          message.name = "authenticationSASLFinal";
          message.data = reader.string(length - 8);
          break;
        default:
          throw new Error("Unknown authenticationOk message type " + code);
      }
      return message;
    };
    var parseErrorMessage = (reader, name) => {
      const fields = {};
      let fieldType = reader.string(1);
      while (fieldType !== "\0") {
        fields[fieldType] = reader.cstring();
        fieldType = reader.string(1);
      }
      const messageValue = fields.M;
      const message = name === "notice" ? new messages_1.NoticeMessage(LATEINIT_LENGTH, messageValue) : new messages_1.DatabaseError(messageValue, LATEINIT_LENGTH, name);
      message.severity = fields.S;
      message.code = fields.C;
      message.detail = fields.D;
      message.hint = fields.H;
      message.position = fields.P;
      message.internalPosition = fields.p;
      message.internalQuery = fields.q;
      message.where = fields.W;
      message.schema = fields.s;
      message.table = fields.t;
      message.column = fields.c;
      message.dataType = fields.d;
      message.constraint = fields.n;
      message.file = fields.F;
      message.line = fields.L;
      message.routine = fields.R;
      return message;
    };
  }
});

// node_modules/pg-protocol/dist/index.js
var require_dist = __commonJS({
  "node_modules/pg-protocol/dist/index.js"(exports2) {
    "use strict";
    Object.defineProperty(exports2, "__esModule", { value: true });
    exports2.DatabaseError = exports2.serialize = void 0;
    exports2.parse = parse;
    var messages_1 = require_messages();
    Object.defineProperty(exports2, "DatabaseError", { enumerable: true, get: function() {
      return messages_1.DatabaseError;
    } });
    var serializer_1 = require_serializer();
    Object.defineProperty(exports2, "serialize", { enumerable: true, get: function() {
      return serializer_1.serialize;
    } });
    var parser_1 = require_parser();
    function parse(stream, callback) {
      const parser = new parser_1.Parser();
      stream.on("data", (buffer) => parser.parse(buffer, callback));
      return new Promise((resolve) => stream.on("end", () => resolve()));
    }
  }
});

// node_modules/pg-cloudflare/dist/empty.js
var require_empty = __commonJS({
  "node_modules/pg-cloudflare/dist/empty.js"(exports2) {
    "use strict";
    Object.defineProperty(exports2, "__esModule", { value: true });
    exports2.default = {};
  }
});

// node_modules/pg/lib/stream.js
var require_stream = __commonJS({
  "node_modules/pg/lib/stream.js"(exports2, module2) {
    var { getStream, getSecureStream } = getStreamFuncs();
    module2.exports = {
      /**
       * Get a socket stream compatible with the current runtime environment.
       * @returns {Duplex}
       */
      getStream,
      /**
       * Get a TLS secured socket, compatible with the current environment,
       * using the socket and other settings given in `options`.
       * @returns {Duplex}
       */
      getSecureStream
    };
    function getNodejsStreamFuncs() {
      function getStream2(ssl) {
        const net = require("net");
        return new net.Socket();
      }
      function getSecureStream2(options) {
        const tls = require("tls");
        return tls.connect(options);
      }
      return {
        getStream: getStream2,
        getSecureStream: getSecureStream2
      };
    }
    function getCloudflareStreamFuncs() {
      function getStream2(ssl) {
        const { CloudflareSocket } = require_empty();
        return new CloudflareSocket(ssl);
      }
      function getSecureStream2(options) {
        options.socket.startTls(options);
        return options.socket;
      }
      return {
        getStream: getStream2,
        getSecureStream: getSecureStream2
      };
    }
    function isCloudflareRuntime() {
      if (typeof navigator === "object" && navigator !== null && typeof navigator.userAgent === "string") {
        return navigator.userAgent === "Cloudflare-Workers";
      }
      if (typeof Response === "function") {
        const resp = new Response(null, { cf: { thing: true } });
        if (typeof resp.cf === "object" && resp.cf !== null && resp.cf.thing) {
          return true;
        }
      }
      return false;
    }
    function getStreamFuncs() {
      if (isCloudflareRuntime()) {
        return getCloudflareStreamFuncs();
      }
      return getNodejsStreamFuncs();
    }
  }
});

// node_modules/pg/lib/connection.js
var require_connection = __commonJS({
  "node_modules/pg/lib/connection.js"(exports2, module2) {
    "use strict";
    var EventEmitter = require("events").EventEmitter;
    var { parse, serialize } = require_dist();
    var stream = require_stream();
    var { getStream } = stream;
    var flushBuffer = serialize.flush();
    var syncBuffer = serialize.sync();
    var endBuffer = serialize.end();
    var Connection2 = class extends EventEmitter {
      constructor(config) {
        super();
        config = config || {};
        this.stream = config.stream || getStream(config.ssl);
        if (typeof this.stream === "function") {
          this.stream = this.stream(config);
        }
        this._keepAlive = config.keepAlive;
        this._keepAliveInitialDelayMillis = config.keepAliveInitialDelayMillis;
        this.parsedStatements = {};
        this.submittedNamedStatements = {};
        this.ssl = config.ssl || false;
        this.sslNegotiation = config.sslNegotiation || "postgres";
        this._ending = false;
        this._emitMessage = false;
        const self = this;
        this.on("newListener", function(eventName) {
          if (eventName === "message") {
            self._emitMessage = true;
          }
        });
      }
      connect(port, host) {
        const self = this;
        this._connecting = true;
        this.stream.setNoDelay(true);
        this.stream.connect(port, host);
        this.stream.once("connect", function() {
          if (self._keepAlive) {
            self.stream.setKeepAlive(true, self._keepAliveInitialDelayMillis);
          }
          self.emit("connect");
        });
        const reportStreamError = function(error) {
          if (self._ending && (error.code === "ECONNRESET" || error.code === "EPIPE")) {
            return;
          }
          self.emit("error", error);
        };
        this.stream.on("error", reportStreamError);
        this.stream.on("close", function() {
          self.emit("end");
        });
        if (!this.ssl) {
          return this.attachListeners(this.stream);
        }
        if (this.sslNegotiation === "direct") {
          return this.stream.once("connect", function() {
            self.upgradeToSSL(host, reportStreamError);
          });
        }
        this.stream.once("data", function(buffer) {
          const responseCode = buffer.toString("utf8");
          switch (responseCode) {
            case "S":
              break;
            case "N":
              self.stream.end();
              return self.emit("error", new Error("The server does not support SSL connections"));
            default:
              self.stream.end();
              return self.emit("error", new Error("There was an error establishing an SSL connection"));
          }
          self.upgradeToSSL(host, reportStreamError);
        });
      }
      upgradeToSSL(host, reportStreamError) {
        const self = this;
        const options = {
          socket: self.stream,
          // tls.connect checks the server identity against `servername`, falling
          // back to `host` and then to 'localhost'. `servername` must stay unset
          // for IP addresses (see below), so `host` is needed to keep certificate
          // validation working when connecting to an IP address.
          host
        };
        if (self.ssl !== true) {
          Object.assign(options, self.ssl);
          if ("key" in self.ssl) {
            options.key = self.ssl.key;
          }
        }
        if (self.sslNegotiation === "direct") {
          options.ALPNProtocols = ["postgresql"];
        }
        const net = require("net");
        if (net.isIP && net.isIP(host) === 0) {
          options.servername = host;
        }
        try {
          self.stream = stream.getSecureStream(options);
        } catch (err) {
          return self.emit("error", err);
        }
        self.attachListeners(self.stream);
        self.stream.on("error", reportStreamError);
        self.emit("sslconnect");
      }
      attachListeners(stream2) {
        parse(stream2, (msg) => {
          const eventName = msg.name === "error" ? "errorMessage" : msg.name;
          if (this._emitMessage) {
            this.emit("message", msg);
          }
          this.emit(eventName, msg);
        });
      }
      requestSsl() {
        this.stream.write(serialize.requestSsl());
      }
      startup(config) {
        this.stream.write(serialize.startup(config));
      }
      cancel(processID, secretKey) {
        this._send(serialize.cancel(processID, secretKey));
      }
      password(password) {
        this._send(serialize.password(password));
      }
      sendSASLInitialResponseMessage(mechanism, initialResponse) {
        this._send(serialize.sendSASLInitialResponseMessage(mechanism, initialResponse));
      }
      sendSCRAMClientFinalMessage(additionalData) {
        this._send(serialize.sendSCRAMClientFinalMessage(additionalData));
      }
      _send(buffer) {
        if (!this.stream.writable) {
          return false;
        }
        return this.stream.write(buffer);
      }
      query(text) {
        this._send(serialize.query(text));
      }
      // send parse message
      parse(query) {
        this._send(serialize.parse(query));
      }
      // send bind message
      bind(config) {
        this._send(serialize.bind(config));
      }
      // send execute message
      execute(config) {
        this._send(serialize.execute(config));
      }
      flush() {
        if (this.stream.writable) {
          this.stream.write(flushBuffer);
        }
      }
      sync() {
        this._send(syncBuffer);
      }
      ref() {
        this.stream.ref();
      }
      unref() {
        this.stream.unref();
      }
      end() {
        this._ending = true;
        if (!this._connecting || !this.stream.writable) {
          this.stream.end();
          return;
        }
        return this.stream.write(endBuffer, () => {
          this.stream.end();
        });
      }
      close(msg) {
        this._send(serialize.close(msg));
      }
      describe(msg) {
        this._send(serialize.describe(msg));
      }
      sendCopyFromChunk(chunk) {
        this._send(serialize.copyData(chunk));
      }
      endCopyFrom() {
        this._send(serialize.copyDone());
      }
      sendCopyFail(msg) {
        this._send(serialize.copyFail(msg));
      }
    };
    module2.exports = Connection2;
  }
});

// node_modules/split2/index.js
var require_split2 = __commonJS({
  "node_modules/split2/index.js"(exports2, module2) {
    "use strict";
    var { Transform } = require("stream");
    var { StringDecoder } = require("string_decoder");
    var kLast = /* @__PURE__ */ Symbol("last");
    var kDecoder = /* @__PURE__ */ Symbol("decoder");
    function transform(chunk, enc, cb) {
      let list;
      if (this.overflow) {
        const buf = this[kDecoder].write(chunk);
        list = buf.split(this.matcher);
        if (list.length === 1) return cb();
        list.shift();
        this.overflow = false;
      } else {
        this[kLast] += this[kDecoder].write(chunk);
        list = this[kLast].split(this.matcher);
      }
      this[kLast] = list.pop();
      for (let i = 0; i < list.length; i++) {
        try {
          push(this, this.mapper(list[i]));
        } catch (error) {
          return cb(error);
        }
      }
      this.overflow = this[kLast].length > this.maxLength;
      if (this.overflow && !this.skipOverflow) {
        cb(new Error("maximum buffer reached"));
        return;
      }
      cb();
    }
    function flush(cb) {
      this[kLast] += this[kDecoder].end();
      if (this[kLast]) {
        try {
          push(this, this.mapper(this[kLast]));
        } catch (error) {
          return cb(error);
        }
      }
      cb();
    }
    function push(self, val) {
      if (val !== void 0) {
        self.push(val);
      }
    }
    function noop(incoming) {
      return incoming;
    }
    function split(matcher, mapper, options) {
      matcher = matcher || /\r?\n/;
      mapper = mapper || noop;
      options = options || {};
      switch (arguments.length) {
        case 1:
          if (typeof matcher === "function") {
            mapper = matcher;
            matcher = /\r?\n/;
          } else if (typeof matcher === "object" && !(matcher instanceof RegExp) && !matcher[Symbol.split]) {
            options = matcher;
            matcher = /\r?\n/;
          }
          break;
        case 2:
          if (typeof matcher === "function") {
            options = mapper;
            mapper = matcher;
            matcher = /\r?\n/;
          } else if (typeof mapper === "object") {
            options = mapper;
            mapper = noop;
          }
      }
      options = Object.assign({}, options);
      options.autoDestroy = true;
      options.transform = transform;
      options.flush = flush;
      options.readableObjectMode = true;
      const stream = new Transform(options);
      stream[kLast] = "";
      stream[kDecoder] = new StringDecoder("utf8");
      stream.matcher = matcher;
      stream.mapper = mapper;
      stream.maxLength = options.maxLength;
      stream.skipOverflow = options.skipOverflow || false;
      stream.overflow = false;
      stream._destroy = function(err, cb) {
        this._writableState.errorEmitted = false;
        cb(err);
      };
      return stream;
    }
    module2.exports = split;
  }
});

// node_modules/pgpass/lib/helper.js
var require_helper = __commonJS({
  "node_modules/pgpass/lib/helper.js"(exports2, module2) {
    "use strict";
    var path4 = require("path");
    var Stream = require("stream").Stream;
    var split = require_split2();
    var util = require("util");
    var defaultPort = 5432;
    var isWin = process.platform === "win32";
    var warnStream = process.stderr;
    var S_IRWXG = 56;
    var S_IRWXO = 7;
    var S_IFMT = 61440;
    var S_IFREG = 32768;
    function isRegFile(mode) {
      return (mode & S_IFMT) == S_IFREG;
    }
    var fieldNames = ["host", "port", "database", "user", "password"];
    var nrOfFields = fieldNames.length;
    var passKey = fieldNames[nrOfFields - 1];
    function warn() {
      var isWritable = warnStream instanceof Stream && true === warnStream.writable;
      if (isWritable) {
        var args = Array.prototype.slice.call(arguments).concat("\n");
        warnStream.write(util.format.apply(util, args));
      }
    }
    Object.defineProperty(module2.exports, "isWin", {
      get: function() {
        return isWin;
      },
      set: function(val) {
        isWin = val;
      }
    });
    module2.exports.warnTo = function(stream) {
      var old = warnStream;
      warnStream = stream;
      return old;
    };
    module2.exports.getFileName = function(rawEnv) {
      var env = rawEnv || process.env;
      var file = env.PGPASSFILE || (isWin ? path4.join(env.APPDATA || "./", "postgresql", "pgpass.conf") : path4.join(env.HOME || "./", ".pgpass"));
      return file;
    };
    module2.exports.usePgPass = function(stats, fname) {
      if (Object.prototype.hasOwnProperty.call(process.env, "PGPASSWORD")) {
        return false;
      }
      if (isWin) {
        return true;
      }
      fname = fname || "<unkn>";
      if (!isRegFile(stats.mode)) {
        warn('WARNING: password file "%s" is not a plain file', fname);
        return false;
      }
      if (stats.mode & (S_IRWXG | S_IRWXO)) {
        warn('WARNING: password file "%s" has group or world access; permissions should be u=rw (0600) or less', fname);
        return false;
      }
      return true;
    };
    var matcher = module2.exports.match = function(connInfo, entry) {
      return fieldNames.slice(0, -1).reduce(function(prev, field, idx) {
        if (idx == 1) {
          if (Number(connInfo[field] || defaultPort) === Number(entry[field])) {
            return prev && true;
          }
        }
        return prev && (entry[field] === "*" || entry[field] === connInfo[field]);
      }, true);
    };
    module2.exports.getPassword = function(connInfo, stream, cb) {
      var pass;
      var lineStream = stream.pipe(split());
      function onLine(line) {
        var entry = parseLine(line);
        if (entry && isValidEntry(entry) && matcher(connInfo, entry)) {
          pass = entry[passKey];
          lineStream.end();
        }
      }
      var onEnd = function() {
        stream.destroy();
        cb(pass);
      };
      var onErr = function(err) {
        stream.destroy();
        warn("WARNING: error on reading file: %s", err);
        cb(void 0);
      };
      stream.on("error", onErr);
      lineStream.on("data", onLine).on("end", onEnd).on("error", onErr);
    };
    var parseLine = module2.exports.parseLine = function(line) {
      if (line.length < 11 || line.match(/^\s+#/)) {
        return null;
      }
      var curChar = "";
      var prevChar = "";
      var fieldIdx = 0;
      var startIdx = 0;
      var endIdx = 0;
      var obj = {};
      var isLastField = false;
      var addToObj = function(idx, i0, i1) {
        var field = line.substring(i0, i1);
        if (!Object.hasOwnProperty.call(process.env, "PGPASS_NO_DEESCAPE")) {
          field = field.replace(/\\([:\\])/g, "$1");
        }
        obj[fieldNames[idx]] = field;
      };
      for (var i = 0; i < line.length - 1; i += 1) {
        curChar = line.charAt(i + 1);
        prevChar = line.charAt(i);
        isLastField = fieldIdx == nrOfFields - 1;
        if (isLastField) {
          addToObj(fieldIdx, startIdx);
          break;
        }
        if (i >= 0 && curChar == ":" && prevChar !== "\\") {
          addToObj(fieldIdx, startIdx, i + 1);
          startIdx = i + 2;
          fieldIdx += 1;
        }
      }
      obj = Object.keys(obj).length === nrOfFields ? obj : null;
      return obj;
    };
    var isValidEntry = module2.exports.isValidEntry = function(entry) {
      var rules = {
        // host
        0: function(x) {
          return x.length > 0;
        },
        // port
        1: function(x) {
          if (x === "*") {
            return true;
          }
          x = Number(x);
          return isFinite(x) && x > 0 && x < 9007199254740992 && Math.floor(x) === x;
        },
        // database
        2: function(x) {
          return x.length > 0;
        },
        // username
        3: function(x) {
          return x.length > 0;
        },
        // password
        4: function(x) {
          return x.length > 0;
        }
      };
      for (var idx = 0; idx < fieldNames.length; idx += 1) {
        var rule = rules[idx];
        var value = entry[fieldNames[idx]] || "";
        var res = rule(value);
        if (!res) {
          return false;
        }
      }
      return true;
    };
  }
});

// node_modules/pgpass/lib/index.js
var require_lib = __commonJS({
  "node_modules/pgpass/lib/index.js"(exports2, module2) {
    "use strict";
    var path4 = require("path");
    var fs7 = require("fs");
    var helper = require_helper();
    module2.exports = function(connInfo, cb) {
      var file = helper.getFileName();
      fs7.stat(file, function(err, stat) {
        if (err || !helper.usePgPass(stat, file)) {
          return cb(void 0);
        }
        var st = fs7.createReadStream(file);
        helper.getPassword(connInfo, st, cb);
      });
    };
    module2.exports.warnTo = helper.warnTo;
  }
});

// node_modules/pg/lib/client.js
var require_client = __commonJS({
  "node_modules/pg/lib/client.js"(exports2, module2) {
    var EventEmitter = require("events").EventEmitter;
    var utils = require_utils();
    var nodeUtils = require("util");
    var sasl = require_sasl();
    var TypeOverrides2 = require_type_overrides();
    var ConnectionParameters = require_connection_parameters();
    var Query2 = require_query();
    var defaults2 = require_defaults();
    var Connection2 = require_connection();
    var crypto2 = require_utils2();
    var activeQueryDeprecationNotice = nodeUtils.deprecate(
      () => {
      },
      "Client.activeQuery is deprecated and will be removed in pg@9.0"
    );
    var queryQueueDeprecationNotice = nodeUtils.deprecate(
      () => {
      },
      "Client.queryQueue is deprecated and will be removed in pg@9.0."
    );
    var pgPassDeprecationNotice = nodeUtils.deprecate(
      () => {
      },
      "pgpass support is deprecated and will be removed in pg@9.0. You can provide an async function as the password property to the Client/Pool constructor that returns a password instead. Within this function you can call the pgpass module in your own code."
    );
    var byoPromiseDeprecationNotice = nodeUtils.deprecate(
      () => {
      },
      "Passing a custom Promise implementation to the Client/Pool constructor is deprecated and will be removed in pg@9.0."
    );
    var queryQueueLengthDeprecationNotice = nodeUtils.deprecate(
      () => {
      },
      "Calling client.query() when the client is already executing a query is deprecated and will be removed in pg@9.0. Use async/await or an external async flow control mechanism instead."
    );
    function coerceNumberOrDefault(value, defaultValue) {
      if (typeof value === "number") {
        return Number.isFinite(value) ? value : defaultValue;
      }
      if (typeof value === "string" && value.trim() !== "") {
        const n = Number(value);
        return Number.isFinite(n) ? n : defaultValue;
      }
      return defaultValue;
    }
    var Client2 = class extends EventEmitter {
      constructor(config) {
        super();
        this.connectionParameters = new ConnectionParameters(config);
        this.user = this.connectionParameters.user;
        this.database = this.connectionParameters.database;
        this.port = this.connectionParameters.port;
        this.host = this.connectionParameters.host;
        Object.defineProperty(this, "password", {
          configurable: true,
          enumerable: false,
          writable: true,
          value: this.connectionParameters.password
        });
        this.replication = this.connectionParameters.replication;
        const c = config || {};
        if (c.Promise) {
          byoPromiseDeprecationNotice();
        }
        this._Promise = c.Promise || global.Promise;
        this._types = new TypeOverrides2(c.types);
        this._ending = false;
        this._ended = false;
        this._connecting = false;
        this._connected = false;
        this._connectionError = false;
        this._queryable = true;
        this._activeQuery = null;
        this._txStatus = null;
        this.enableChannelBinding = Boolean(c.enableChannelBinding);
        this.scramMaxIterations = coerceNumberOrDefault(c.scramMaxIterations, sasl.DEFAULT_MAX_SCRAM_ITERATIONS);
        this.connection = c.connection || new Connection2({
          stream: c.stream,
          ssl: this.connectionParameters.ssl,
          sslNegotiation: this.connectionParameters.sslnegotiation,
          keepAlive: c.keepAlive || false,
          keepAliveInitialDelayMillis: c.keepAliveInitialDelayMillis || 0,
          encoding: this.connectionParameters.client_encoding || "utf8"
        });
        this._queryQueue = [];
        this._sentQueryQueue = [];
        this.pipeline = Boolean(c.pipeline);
        this.binary = c.binary || defaults2.binary;
        this.processID = null;
        this.secretKey = null;
        this.ssl = this.connectionParameters.ssl || false;
        this.sslNegotiation = this.connectionParameters.sslnegotiation || "postgres";
        if (this.ssl && this.ssl.key) {
          Object.defineProperty(this.ssl, "key", {
            enumerable: false
          });
        }
        this._connectionTimeoutMillis = c.connectionTimeoutMillis || 0;
      }
      get activeQuery() {
        activeQueryDeprecationNotice();
        return this._activeQuery;
      }
      set activeQuery(val) {
        activeQueryDeprecationNotice();
        this._activeQuery = val;
      }
      _getActiveQuery() {
        return this._activeQuery;
      }
      _errorAllQueries(err) {
        const enqueueError = (query) => {
          process.nextTick(() => {
            query.handleError(err, this.connection);
          });
        };
        const activeQuery = this._getActiveQuery();
        if (activeQuery) {
          enqueueError(activeQuery);
          this._activeQuery = null;
        }
        this._sentQueryQueue.forEach(enqueueError);
        this._sentQueryQueue.length = 0;
        this._queryQueue.forEach(enqueueError);
        this._queryQueue.length = 0;
      }
      _connect(callback) {
        const self = this;
        const con = this.connection;
        this._connectionCallback = callback;
        if (this._connecting || this._connected) {
          const err = new Error("Client has already been connected. You cannot reuse a client.");
          process.nextTick(() => {
            callback(err);
          });
          return;
        }
        this._connecting = true;
        if (this._connectionTimeoutMillis > 0) {
          this.connectionTimeoutHandle = setTimeout(() => {
            con._ending = true;
            con.stream.destroy(new Error("timeout expired"));
          }, this._connectionTimeoutMillis);
          if (this.connectionTimeoutHandle.unref) {
            this.connectionTimeoutHandle.unref();
          }
        }
        if (this.host && this.host.indexOf("/") === 0) {
          con.connect(this.host + "/.s.PGSQL." + this.port);
        } else {
          con.connect(this.port, this.host);
        }
        con.on("connect", function() {
          if (self.ssl) {
            if (self.sslNegotiation !== "direct") {
              con.requestSsl();
            }
          } else {
            con.startup(self.getStartupConf());
          }
        });
        con.on("sslconnect", function() {
          con.startup(self.getStartupConf());
        });
        this._attachListeners(con);
        con.once("end", () => {
          const error = this._ending ? new Error("Connection terminated") : new Error("Connection terminated unexpectedly");
          clearTimeout(this.connectionTimeoutHandle);
          this._errorAllQueries(error);
          this._ended = true;
          if (!this._ending) {
            if (this._connecting && !this._connectionError) {
              if (this._connectionCallback) {
                this._connectionCallback(error);
              } else {
                this._handleErrorEvent(error);
              }
            } else if (!this._connectionError) {
              this._handleErrorEvent(error);
            }
          }
          process.nextTick(() => {
            this.emit("end");
          });
        });
      }
      connect(callback) {
        if (callback) {
          this._connect(callback);
          return;
        }
        return new this._Promise((resolve, reject) => {
          this._connect((error) => {
            if (error) {
              reject(error);
            } else {
              resolve(this);
            }
          });
        });
      }
      _attachListeners(con) {
        con.on("authenticationCleartextPassword", this._handleAuthCleartextPassword.bind(this));
        con.on("authenticationMD5Password", this._handleAuthMD5Password.bind(this));
        con.on("authenticationSASL", this._handleAuthSASL.bind(this));
        con.on("authenticationSASLContinue", this._handleAuthSASLContinue.bind(this));
        con.on("authenticationSASLFinal", this._handleAuthSASLFinal.bind(this));
        con.on("backendKeyData", this._handleBackendKeyData.bind(this));
        con.on("error", this._handleErrorEvent.bind(this));
        con.on("errorMessage", this._handleErrorMessage.bind(this));
        con.on("readyForQuery", this._handleReadyForQuery.bind(this));
        con.on("notice", this._handleNotice.bind(this));
        con.on("rowDescription", this._handleRowDescription.bind(this));
        con.on("dataRow", this._handleDataRow.bind(this));
        con.on("portalSuspended", this._handlePortalSuspended.bind(this));
        con.on("emptyQuery", this._handleEmptyQuery.bind(this));
        con.on("commandComplete", this._handleCommandComplete.bind(this));
        con.on("parseComplete", this._handleParseComplete.bind(this));
        con.on("copyInResponse", this._handleCopyInResponse.bind(this));
        con.on("copyData", this._handleCopyData.bind(this));
        con.on("notification", this._handleNotification.bind(this));
      }
      _getPassword(cb) {
        const con = this.connection;
        if (typeof this.password === "function") {
          this._Promise.resolve().then(() => this.password(this.connectionParameters)).then((pass) => {
            if (pass !== void 0) {
              if (typeof pass !== "string") {
                con.emit("error", new TypeError("Password must be a string"));
                return;
              }
              this.connectionParameters.password = this.password = pass;
            } else {
              this.connectionParameters.password = this.password = null;
            }
            cb();
          }).catch((err) => {
            con.emit("error", err);
          });
        } else if (this.password !== null) {
          cb();
        } else {
          try {
            const pgPass = require_lib();
            pgPass(this.connectionParameters, (pass) => {
              if (void 0 !== pass) {
                pgPassDeprecationNotice();
                this.connectionParameters.password = this.password = pass;
              }
              cb();
            });
          } catch (e) {
            this.emit("error", e);
          }
        }
      }
      _handleAuthCleartextPassword(msg) {
        this._getPassword(() => {
          this.connection.password(this.password);
        });
      }
      _handleAuthMD5Password(msg) {
        this._getPassword(async () => {
          try {
            const hashedPassword = await crypto2.postgresMd5PasswordHash(this.user, this.password, msg.salt);
            this.connection.password(hashedPassword);
          } catch (e) {
            this.emit("error", e);
          }
        });
      }
      _handleAuthSASL(msg) {
        this._getPassword(() => {
          try {
            this.saslSession = sasl.startSession(
              msg.mechanisms,
              this.enableChannelBinding && this.connection.stream,
              this.scramMaxIterations
            );
            this.connection.sendSASLInitialResponseMessage(this.saslSession.mechanism, this.saslSession.response);
          } catch (err) {
            this.connection.emit("error", err);
          }
        });
      }
      async _handleAuthSASLContinue(msg) {
        try {
          await sasl.continueSession(
            this.saslSession,
            this.password,
            msg.data,
            this.enableChannelBinding && this.connection.stream
          );
          this.connection.sendSCRAMClientFinalMessage(this.saslSession.response);
        } catch (err) {
          this.connection.emit("error", err);
        }
      }
      _handleAuthSASLFinal(msg) {
        try {
          sasl.finalizeSession(this.saslSession, msg.data);
          this.saslSession = null;
        } catch (err) {
          this.connection.emit("error", err);
        }
      }
      _handleBackendKeyData(msg) {
        this.processID = msg.processID;
        this.secretKey = msg.secretKey;
      }
      _handleReadyForQuery(msg) {
        if (this._connecting) {
          this._connecting = false;
          this._connected = true;
          clearTimeout(this.connectionTimeoutHandle);
          if (this._connectionCallback) {
            this._connectionCallback(null, this);
            this._connectionCallback = null;
          }
          this.emit("connect");
        }
        const activeQuery = this._getActiveQuery();
        this._activeQuery = null;
        this._txStatus = msg?.status ?? null;
        this.readyForQuery = true;
        if (activeQuery) {
          activeQuery.handleReadyForQuery(this.connection);
        }
        this._pulseQueryQueue();
      }
      // if we receive an error event or error message
      // during the connection process we handle it here
      _handleErrorWhileConnecting(err) {
        if (this._connectionError) {
          return;
        }
        this._connectionError = true;
        clearTimeout(this.connectionTimeoutHandle);
        if (this._connectionCallback) {
          return this._connectionCallback(err);
        }
        this.emit("error", err);
      }
      // if we're connected and we receive an error event from the connection
      // this means the socket is dead - do a hard abort of all queries and emit
      // the socket error on the client as well
      _handleErrorEvent(err) {
        if (this._connecting) {
          return this._handleErrorWhileConnecting(err);
        }
        this._queryable = false;
        this._errorAllQueries(err);
        this.emit("error", err);
      }
      // handle error messages from the postgres backend
      _handleErrorMessage(msg) {
        if (this._connecting) {
          return this._handleErrorWhileConnecting(msg);
        }
        const activeQuery = this._getActiveQuery();
        if (!activeQuery) {
          this._handleErrorEvent(msg);
          return;
        }
        this._activeQuery = null;
        if (activeQuery.name) {
          delete this.connection.submittedNamedStatements[activeQuery.name];
        }
        activeQuery.handleError(msg, this.connection);
      }
      _handleRowDescription(msg) {
        const activeQuery = this._getActiveQuery();
        if (activeQuery == null) {
          const error = new Error("Received unexpected rowDescription message from backend.");
          this._handleErrorEvent(error);
          return;
        }
        activeQuery.handleRowDescription(msg);
      }
      _handleDataRow(msg) {
        const activeQuery = this._getActiveQuery();
        if (activeQuery == null) {
          const error = new Error("Received unexpected dataRow message from backend.");
          this._handleErrorEvent(error);
          return;
        }
        activeQuery.handleDataRow(msg);
      }
      _handlePortalSuspended(msg) {
        const activeQuery = this._getActiveQuery();
        if (activeQuery == null) {
          const error = new Error("Received unexpected portalSuspended message from backend.");
          this._handleErrorEvent(error);
          return;
        }
        activeQuery.handlePortalSuspended(this.connection);
      }
      _handleEmptyQuery(msg) {
        const activeQuery = this._getActiveQuery();
        if (activeQuery == null) {
          const error = new Error("Received unexpected emptyQuery message from backend.");
          this._handleErrorEvent(error);
          return;
        }
        activeQuery.handleEmptyQuery(this.connection);
      }
      _handleCommandComplete(msg) {
        const activeQuery = this._getActiveQuery();
        if (activeQuery == null) {
          const error = new Error("Received unexpected commandComplete message from backend.");
          this._handleErrorEvent(error);
          return;
        }
        activeQuery.handleCommandComplete(msg, this.connection);
      }
      _handleParseComplete() {
        const activeQuery = this._getActiveQuery();
        if (activeQuery == null) {
          const error = new Error("Received unexpected parseComplete message from backend.");
          this._handleErrorEvent(error);
          return;
        }
        if (activeQuery.name) {
          this.connection.parsedStatements[activeQuery.name] = activeQuery.text;
          delete this.connection.submittedNamedStatements[activeQuery.name];
        }
      }
      _handleCopyInResponse(msg) {
        const activeQuery = this._getActiveQuery();
        if (activeQuery == null) {
          const error = new Error("Received unexpected copyInResponse message from backend.");
          this._handleErrorEvent(error);
          return;
        }
        activeQuery.handleCopyInResponse(this.connection);
      }
      _handleCopyData(msg) {
        const activeQuery = this._getActiveQuery();
        if (activeQuery == null) {
          const error = new Error("Received unexpected copyData message from backend.");
          this._handleErrorEvent(error);
          return;
        }
        activeQuery.handleCopyData(msg, this.connection);
      }
      _handleNotification(msg) {
        this.emit("notification", msg);
      }
      _handleNotice(msg) {
        this.emit("notice", msg);
      }
      getStartupConf() {
        const params = this.connectionParameters;
        const data = {
          user: params.user,
          database: params.database
        };
        const appName = params.application_name || params.fallback_application_name;
        if (appName) {
          data.application_name = appName;
        }
        if (params.replication) {
          data.replication = "" + params.replication;
        }
        if (params.statement_timeout) {
          data.statement_timeout = String(parseInt(params.statement_timeout, 10));
        }
        if (params.lock_timeout) {
          data.lock_timeout = String(parseInt(params.lock_timeout, 10));
        }
        if (params.idle_in_transaction_session_timeout) {
          data.idle_in_transaction_session_timeout = String(parseInt(params.idle_in_transaction_session_timeout, 10));
        }
        if (params.options) {
          data.options = params.options;
        }
        return data;
      }
      cancel(client, query) {
        if (client.activeQuery === query) {
          const con = this.connection;
          if (this.host && this.host.indexOf("/") === 0) {
            con.connect(this.host + "/.s.PGSQL." + this.port);
          } else {
            con.connect(this.port, this.host);
          }
          con.on("connect", function() {
            con.cancel(client.processID, client.secretKey);
          });
        } else if (client._queryQueue.indexOf(query) !== -1) {
          client._queryQueue.splice(client._queryQueue.indexOf(query), 1);
        } else if (client._sentQueryQueue.indexOf(query) !== -1) {
          query.callback = () => {
          };
        }
      }
      setTypeParser(oid, format, parseFn) {
        return this._types.setTypeParser(oid, format, parseFn);
      }
      getTypeParser(oid, format) {
        return this._types.getTypeParser(oid, format);
      }
      // escapeIdentifier and escapeLiteral moved to utility functions & exported
      // on PG
      // re-exported here for backwards compatibility
      escapeIdentifier(str) {
        return utils.escapeIdentifier(str);
      }
      escapeLiteral(str) {
        return utils.escapeLiteral(str);
      }
      _pulseQueryQueue() {
        if (this.pipeline) {
          this._pulsePipelinedQueryQueue();
          return;
        }
        if (this.readyForQuery === true) {
          this._activeQuery = this._queryQueue.shift();
          const activeQuery = this._getActiveQuery();
          if (activeQuery) {
            this.readyForQuery = false;
            this.hasExecuted = true;
            const queryError = activeQuery.submit(this.connection);
            if (queryError) {
              process.nextTick(() => {
                activeQuery.handleError(queryError, this.connection);
                this.readyForQuery = true;
                this._pulseQueryQueue();
              });
            }
          } else if (this.hasExecuted) {
            this._activeQuery = null;
            this.emit("drain");
          }
        }
      }
      _pulsePipelinedQueryQueue() {
        if (!this._connected || !this._queryable) {
          return;
        }
        while (this._queryQueue.length > 0) {
          const query = this._queryQueue.shift();
          this.hasExecuted = true;
          const queryError = query.submit(this.connection);
          if (queryError) {
            process.nextTick(() => {
              query.handleError(queryError, this.connection);
            });
            continue;
          }
          this._sentQueryQueue.push(query);
        }
        if (this.readyForQuery && !this._activeQuery && this._sentQueryQueue.length > 0) {
          this._activeQuery = this._sentQueryQueue.shift();
          this.readyForQuery = false;
        }
        if (!this._activeQuery && this._sentQueryQueue.length === 0 && this._queryQueue.length === 0 && this.hasExecuted) {
          this.emit("drain");
        }
      }
      query(config, values, callback) {
        let query;
        let result;
        if (config == null) {
          throw new TypeError("Client was passed a null or undefined query");
        }
        if (typeof config.submit === "function") {
          result = query = config;
          if (!query.callback) {
            if (typeof values === "function") {
              query.callback = values;
            } else if (callback) {
              query.callback = callback;
            }
          }
        } else {
          query = new Query2(config, values, callback);
          if (!query.callback) {
            result = new this._Promise((resolve, reject) => {
              query.callback = (err, res) => err ? reject(err) : resolve(res);
            }).catch((err) => {
              Error.captureStackTrace(err);
              throw err;
            });
          } else if (typeof query.callback !== "function") {
            throw new TypeError("callback is not a function");
          }
        }
        const readTimeout = config.query_timeout || this.connectionParameters.query_timeout;
        if (readTimeout) {
          const queryCallback = query.callback || (() => {
          });
          const readTimeoutTimer = setTimeout(() => {
            const error = new Error("Query read timeout");
            process.nextTick(() => {
              query.handleError(error, this.connection);
            });
            queryCallback(error);
            query.callback = () => {
            };
            const index = this._queryQueue.indexOf(query);
            if (index > -1) {
              this._queryQueue.splice(index, 1);
            } else if (this.pipeline) {
              this.connection.stream.destroy();
              return;
            }
            this._pulseQueryQueue();
          }, readTimeout);
          query.callback = (err, res) => {
            clearTimeout(readTimeoutTimer);
            queryCallback(err, res);
          };
        }
        if (this.binary && !query.binary) {
          query.binary = true;
        }
        if (query._result && !query._result._types) {
          query._result._types = this._types;
        }
        if (this.pipeline) {
          const portalQuery = typeof config.submit === "function" && !(query instanceof Query2) ? "Custom query classes such as pg-cursor and pg-query-stream are" : query.rows ? "The `rows` option is" : null;
          if (portalQuery) {
            process.nextTick(() => {
              query.handleError(new Error(`${portalQuery} not supported in pipeline mode`), this.connection);
            });
            return result;
          }
        }
        if (!this._queryable) {
          process.nextTick(() => {
            query.handleError(new Error("Client has encountered a connection error and is not queryable"), this.connection);
          });
          return result;
        }
        if (this._ending) {
          process.nextTick(() => {
            query.handleError(new Error("Client was closed and is not queryable"), this.connection);
          });
          return result;
        }
        if (this._queryQueue.length > 0 && !this.pipeline) {
          queryQueueLengthDeprecationNotice();
        }
        this._queryQueue.push(query);
        this._pulseQueryQueue();
        return result;
      }
      ref() {
        this.connection.ref();
      }
      unref() {
        this.connection.unref();
      }
      getTransactionStatus() {
        return this._txStatus;
      }
      end(cb) {
        this._ending = true;
        if (!this.connection._connecting || this._ended) {
          if (cb) {
            cb();
            return;
          } else {
            return this._Promise.resolve();
          }
        }
        if (!this._queryable) {
          this.connection.stream.destroy();
        } else if (this.pipeline && (this._getActiveQuery() || this._sentQueryQueue.length > 0 || this._queryQueue.length > 0)) {
          this.once("drain", () => this.connection.end());
        } else if (this._getActiveQuery()) {
          this.connection.stream.destroy();
        } else {
          this.connection.end();
        }
        if (cb) {
          this.connection.once("end", cb);
        } else {
          return new this._Promise((resolve) => {
            this.connection.once("end", resolve);
          });
        }
      }
      get queryQueue() {
        queryQueueDeprecationNotice();
        return this._queryQueue;
      }
    };
    Client2.Query = Query2;
    module2.exports = Client2;
  }
});

// node_modules/pg-pool/index.js
var require_pg_pool = __commonJS({
  "node_modules/pg-pool/index.js"(exports2, module2) {
    "use strict";
    var EventEmitter = require("events").EventEmitter;
    var NOOP = function() {
    };
    var removeWhere = (list, predicate) => {
      const i = list.findIndex(predicate);
      return i === -1 ? void 0 : list.splice(i, 1)[0];
    };
    var IdleItem = class {
      constructor(client, idleListener, timeoutId) {
        this.client = client;
        this.idleListener = idleListener;
        this.timeoutId = timeoutId;
      }
    };
    var PendingItem = class {
      constructor(callback) {
        this.callback = callback;
      }
    };
    function throwOnDoubleRelease() {
      throw new Error("Release called on client which has already been released to the pool.");
    }
    function promisify(Promise2, callback) {
      if (callback) {
        return { callback, result: void 0 };
      }
      let rej;
      let res;
      const cb = function(err, client) {
        err ? rej(err) : res(client);
      };
      const result = new Promise2(function(resolve, reject) {
        res = resolve;
        rej = reject;
      }).catch((err) => {
        Error.captureStackTrace(err);
        throw err;
      });
      return { callback: cb, result };
    }
    function makeIdleListener(pool, client) {
      return function idleListener(err) {
        err.client = client;
        client.removeListener("error", idleListener);
        client.on("error", () => {
          pool.log("additional client error after disconnection due to error", err);
        });
        pool._remove(client);
        pool.emit("error", err, client);
      };
    }
    var Pool2 = class extends EventEmitter {
      constructor(options, Client2) {
        super();
        this.options = Object.assign({}, options);
        if (options != null && "password" in options) {
          Object.defineProperty(this.options, "password", {
            configurable: true,
            enumerable: false,
            writable: true,
            value: options.password
          });
        }
        if (options != null && options.ssl && options.ssl.key) {
          Object.defineProperty(this.options.ssl, "key", {
            enumerable: false
          });
        }
        this.options.max = this.options.max || this.options.poolSize || 10;
        this.options.min = this.options.min || 0;
        this.options.maxUses = this.options.maxUses || Infinity;
        this.options.allowExitOnIdle = this.options.allowExitOnIdle || false;
        this.options.maxLifetimeSeconds = this.options.maxLifetimeSeconds || 0;
        this.log = this.options.log || function() {
        };
        this.Client = this.options.Client || Client2 || require_lib2().Client;
        this.Promise = this.options.Promise || global.Promise;
        if (typeof this.options.idleTimeoutMillis === "undefined") {
          this.options.idleTimeoutMillis = 1e4;
        }
        this._clients = [];
        this._idle = [];
        this._expired = /* @__PURE__ */ new WeakSet();
        this._pendingQueue = [];
        this._endCallback = void 0;
        this.ending = false;
        this.ended = false;
      }
      _promiseTry(f) {
        const Promise2 = this.Promise;
        if (typeof Promise2.try === "function") {
          return Promise2.try(f);
        }
        return new Promise2((resolve) => resolve(f()));
      }
      _isFull() {
        return this._clients.length >= this.options.max;
      }
      _isAboveMin() {
        return this._clients.length > this.options.min;
      }
      _pulseQueue() {
        this.log("pulse queue");
        if (this.ended) {
          this.log("pulse queue ended");
          return;
        }
        if (this.ending) {
          this.log("pulse queue on ending");
          if (this._idle.length) {
            this._idle.slice().map((item) => {
              this._remove(item.client);
            });
          }
          if (!this._clients.length) {
            this.ended = true;
            this._endCallback();
          }
          return;
        }
        if (!this._pendingQueue.length) {
          this.log("no queued requests");
          return;
        }
        if (!this._idle.length && this._isFull()) {
          return;
        }
        const pendingItem = this._pendingQueue.shift();
        if (this._idle.length) {
          const idleItem = this._idle.pop();
          clearTimeout(idleItem.timeoutId);
          const client = idleItem.client;
          client.ref && client.ref();
          const idleListener = idleItem.idleListener;
          return this._acquireClient(client, pendingItem, idleListener, false);
        }
        if (!this._isFull()) {
          return this.newClient(pendingItem);
        }
        throw new Error("unexpected condition");
      }
      _remove(client, callback) {
        const removed = removeWhere(this._idle, (item) => item.client === client);
        if (removed !== void 0) {
          clearTimeout(removed.timeoutId);
        }
        this._clients = this._clients.filter((c) => c !== client);
        const context = this;
        client.end(() => {
          context.emit("remove", client);
          if (typeof callback === "function") {
            callback();
          }
        });
      }
      connect(cb) {
        if (this.ending) {
          const err = new Error("Cannot use a pool after calling end on the pool");
          return cb ? cb(err) : this.Promise.reject(err);
        }
        const response = promisify(this.Promise, cb);
        const result = response.result;
        if (this._isFull() || this._idle.length) {
          if (this._idle.length) {
            process.nextTick(() => this._pulseQueue());
          }
          if (!this.options.connectionTimeoutMillis) {
            this._pendingQueue.push(new PendingItem(response.callback));
            return result;
          }
          const queueCallback = (err, res, done) => {
            clearTimeout(tid);
            response.callback(err, res, done);
          };
          const pendingItem = new PendingItem(queueCallback);
          const tid = setTimeout(() => {
            removeWhere(this._pendingQueue, (i) => i.callback === queueCallback);
            pendingItem.timedOut = true;
            response.callback(new Error("timeout exceeded when trying to connect"));
          }, this.options.connectionTimeoutMillis);
          if (tid.unref) {
            tid.unref();
          }
          this._pendingQueue.push(pendingItem);
          return result;
        }
        this.newClient(new PendingItem(response.callback));
        return result;
      }
      newClient(pendingItem) {
        const client = new this.Client(this.options);
        this._clients.push(client);
        const idleListener = makeIdleListener(this, client);
        this.log("checking client timeout");
        let tid;
        let timeoutHit = false;
        if (this.options.connectionTimeoutMillis) {
          tid = setTimeout(() => {
            if (client.connection) {
              this.log("ending client due to timeout");
              timeoutHit = true;
              client.connection.stream.destroy();
            } else if (!client.isConnected()) {
              this.log("ending client due to timeout");
              timeoutHit = true;
              client.end();
            }
          }, this.options.connectionTimeoutMillis);
        }
        this.log("connecting new client");
        client.connect((err) => {
          if (tid) {
            clearTimeout(tid);
          }
          client.on("error", idleListener);
          if (err) {
            this.log("client failed to connect", err);
            this._clients = this._clients.filter((c) => c !== client);
            if (timeoutHit) {
              err = new Error("Connection terminated due to connection timeout", { cause: err });
            }
            this._pulseQueue();
            if (!pendingItem.timedOut) {
              pendingItem.callback(err, void 0, NOOP);
            }
          } else {
            this.log("new client connected");
            if (this.options.onConnect) {
              this._promiseTry(() => this.options.onConnect(client)).then(
                () => {
                  this._afterConnect(client, pendingItem, idleListener);
                },
                (hookErr) => {
                  this._clients = this._clients.filter((c) => c !== client);
                  client.end(() => {
                    this._pulseQueue();
                    if (!pendingItem.timedOut) {
                      pendingItem.callback(hookErr, void 0, NOOP);
                    }
                  });
                }
              );
              return;
            }
            return this._afterConnect(client, pendingItem, idleListener);
          }
        });
      }
      _afterConnect(client, pendingItem, idleListener) {
        if (this.options.maxLifetimeSeconds !== 0) {
          const maxLifetimeTimeout = setTimeout(() => {
            this.log("ending client due to expired lifetime");
            this._expired.add(client);
            const idleIndex = this._idle.findIndex((idleItem) => idleItem.client === client);
            if (idleIndex !== -1) {
              this._acquireClient(
                client,
                new PendingItem((err, client2, clientRelease) => clientRelease()),
                idleListener,
                false
              );
            }
          }, this.options.maxLifetimeSeconds * 1e3);
          maxLifetimeTimeout.unref();
          client.once("end", () => clearTimeout(maxLifetimeTimeout));
        }
        return this._acquireClient(client, pendingItem, idleListener, true);
      }
      // acquire a client for a pending work item
      _acquireClient(client, pendingItem, idleListener, isNew) {
        if (isNew) {
          this.emit("connect", client);
        }
        this.emit("acquire", client);
        client.release = this._releaseOnce(client, idleListener);
        client.removeListener("error", idleListener);
        if (!pendingItem.timedOut) {
          if (isNew && this.options.verify) {
            this.options.verify(client, (err) => {
              if (err) {
                client.release(err);
                return pendingItem.callback(err, void 0, NOOP);
              }
              pendingItem.callback(void 0, client, client.release);
            });
          } else {
            pendingItem.callback(void 0, client, client.release);
          }
        } else {
          if (isNew && this.options.verify) {
            this.options.verify(client, client.release);
          } else {
            client.release();
          }
        }
      }
      // returns a function that wraps _release and throws if called more than once
      _releaseOnce(client, idleListener) {
        let released = false;
        return (err) => {
          if (released) {
            throwOnDoubleRelease();
          }
          released = true;
          this._release(client, idleListener, err);
        };
      }
      // release a client back to the poll, include an error
      // to remove it from the pool
      _release(client, idleListener, err) {
        client.on("error", idleListener);
        client._poolUseCount = (client._poolUseCount || 0) + 1;
        this.emit("release", err, client);
        if (err || this.ending || !client._queryable || client._ending || client._poolUseCount >= this.options.maxUses) {
          if (client._poolUseCount >= this.options.maxUses) {
            this.log("remove expended client");
          }
          return this._remove(client, this._pulseQueue.bind(this));
        }
        const isExpired = this._expired.has(client);
        if (isExpired) {
          this.log("remove expired client");
          this._expired.delete(client);
          return this._remove(client, this._pulseQueue.bind(this));
        }
        let tid;
        if (this.options.idleTimeoutMillis && this._isAboveMin()) {
          tid = setTimeout(() => {
            if (this._isAboveMin()) {
              this.log("remove idle client");
              this._remove(client, this._pulseQueue.bind(this));
            }
          }, this.options.idleTimeoutMillis);
          if (this.options.allowExitOnIdle) {
            tid.unref();
          }
        }
        if (this.options.allowExitOnIdle) {
          client.unref();
        }
        this._idle.push(new IdleItem(client, idleListener, tid));
        this._pulseQueue();
      }
      query(text, values, cb) {
        if (typeof text === "function") {
          const response2 = promisify(this.Promise, text);
          setImmediate(function() {
            return response2.callback(new Error("Passing a function as the first parameter to pool.query is not supported"));
          });
          return response2.result;
        }
        if (typeof values === "function") {
          cb = values;
          values = void 0;
        }
        const response = promisify(this.Promise, cb);
        cb = response.callback;
        this.connect((err, client) => {
          if (err) {
            return cb(err);
          }
          let clientReleased = false;
          const onError = (err2) => {
            if (clientReleased) {
              return;
            }
            clientReleased = true;
            client.release(err2);
            cb(err2);
          };
          client.once("error", onError);
          this.log("dispatching query");
          try {
            client.query(text, values, (err2, res) => {
              this.log("query dispatched");
              client.removeListener("error", onError);
              if (clientReleased) {
                return;
              }
              clientReleased = true;
              client.release(err2);
              if (err2) {
                return cb(err2);
              }
              return cb(void 0, res);
            });
          } catch (err2) {
            client.release(err2);
            return cb(err2);
          }
        });
        return response.result;
      }
      end(cb) {
        this.log("ending");
        if (this.ending) {
          const err = new Error("Called end on pool more than once");
          return cb ? cb(err) : this.Promise.reject(err);
        }
        this.ending = true;
        const promised = promisify(this.Promise, cb);
        this._endCallback = promised.callback;
        this._pulseQueue();
        return promised.result;
      }
      get waitingCount() {
        return this._pendingQueue.length;
      }
      get idleCount() {
        return this._idle.length;
      }
      get expiredCount() {
        return this._clients.reduce((acc, client) => acc + (this._expired.has(client) ? 1 : 0), 0);
      }
      get totalCount() {
        return this._clients.length;
      }
    };
    module2.exports = Pool2;
  }
});

// node_modules/pg/lib/native/query.js
var require_query2 = __commonJS({
  "node_modules/pg/lib/native/query.js"(exports2, module2) {
    "use strict";
    var EventEmitter = require("events").EventEmitter;
    var util = require("util");
    var utils = require_utils();
    var NativeQuery = module2.exports = function(config, values, callback) {
      EventEmitter.call(this);
      config = utils.normalizeQueryConfig(config, values, callback);
      this.text = config.text;
      this.values = config.values;
      this.name = config.name;
      this.queryMode = config.queryMode;
      this.callback = config.callback;
      this.state = "new";
      this._arrayMode = config.rowMode === "array";
      this._emitRowEvents = false;
      this.on(
        "newListener",
        function(event) {
          if (event === "row") this._emitRowEvents = true;
        }.bind(this)
      );
    };
    util.inherits(NativeQuery, EventEmitter);
    var errorFieldMap = {
      sqlState: "code",
      statementPosition: "position",
      messagePrimary: "message",
      messageDetail: "detail",
      messageHint: "hint",
      context: "where",
      schemaName: "schema",
      tableName: "table",
      columnName: "column",
      dataTypeName: "dataType",
      constraintName: "constraint",
      sourceFile: "file",
      sourceLine: "line",
      sourceFunction: "routine"
    };
    NativeQuery.prototype.handleError = function(err) {
      const fields = this.native && this.native.pq.resultErrorFields();
      if (fields) {
        for (const key in fields) {
          const normalizedFieldName = errorFieldMap[key] || key;
          err[normalizedFieldName] = fields[key];
        }
      }
      if (this.callback) {
        this.callback(err);
      } else {
        this.emit("error", err);
      }
      this.state = "error";
    };
    NativeQuery.prototype.then = function(onSuccess, onFailure) {
      return this._getPromise().then(onSuccess, onFailure);
    };
    NativeQuery.prototype.catch = function(callback) {
      return this._getPromise().catch(callback);
    };
    NativeQuery.prototype._getPromise = function() {
      if (this._promise) return this._promise;
      this._promise = new Promise(
        function(resolve, reject) {
          this._once("end", resolve);
          this._once("error", reject);
        }.bind(this)
      );
      return this._promise;
    };
    NativeQuery.prototype.submit = function(client) {
      this.state = "running";
      const self = this;
      this.native = client.native;
      client.native.arrayMode = this._arrayMode;
      let after = function(err, rows, results) {
        client.native.arrayMode = false;
        setImmediate(function() {
          self.emit("_done");
        });
        if (err) {
          return self.handleError(err);
        }
        if (self._emitRowEvents) {
          if (results.length > 1) {
            rows.forEach((rowOfRows, i) => {
              rowOfRows.forEach((row) => {
                self.emit("row", row, results[i]);
              });
            });
          } else {
            rows.forEach(function(row) {
              self.emit("row", row, results);
            });
          }
        }
        self.state = "end";
        self.emit("end", results);
        if (self.callback) {
          self.callback(null, results);
        }
      };
      if (process.domain) {
        after = process.domain.bind(after);
      }
      if (this.name) {
        if (this.name.length > 63) {
          console.error("Warning! Postgres only supports 63 characters for query names.");
          console.error("You supplied %s (%s)", this.name, this.name.length);
          console.error("This can cause conflicts and silent errors executing queries");
        }
        const values = (this.values || []).map(utils.prepareValue);
        if (client.namedQueries[this.name] !== void 0) {
          if (this.text && client.namedQueries[this.name] !== this.text) {
            const err = new Error(`Prepared statements must be unique - '${this.name}' was used for a different statement`);
            return after(err);
          }
          return client.native.execute(this.name, values, after);
        }
        return client.native.prepare(this.name, this.text, values.length, function(err) {
          if (err) return after(err);
          client.namedQueries[self.name] = self.text;
          return self.native.execute(self.name, values, after);
        });
      } else if (this.values) {
        if (!Array.isArray(this.values)) {
          const err = new Error("Query values must be an array");
          return after(err);
        }
        const vals = this.values.map(utils.prepareValue);
        client.native.query(this.text, vals, after);
      } else if (this.queryMode === "extended") {
        client.native.query(this.text, [], after);
      } else {
        client.native.query(this.text, after);
      }
    };
  }
});

// node_modules/pg/lib/native/client.js
var require_client2 = __commonJS({
  "node_modules/pg/lib/native/client.js"(exports2, module2) {
    var nodeUtils = require("util");
    var Native;
    try {
      Native = require("pg-native");
    } catch (e) {
      throw e;
    }
    var TypeOverrides2 = require_type_overrides();
    var EventEmitter = require("events").EventEmitter;
    var util = require("util");
    var ConnectionParameters = require_connection_parameters();
    var NativeQuery = require_query2();
    var queryQueueLengthDeprecationNotice = nodeUtils.deprecate(
      () => {
      },
      "Calling client.query() when the client is already executing a query is deprecated and will be removed in pg@9.0. Use async/await or an external async flow control mechanism instead."
    );
    var Client2 = module2.exports = function(config) {
      EventEmitter.call(this);
      config = config || {};
      this._Promise = config.Promise || global.Promise;
      this._types = new TypeOverrides2(config.types);
      this.native = new Native({
        types: this._types
      });
      this._queryQueue = [];
      this._ending = false;
      this._connecting = false;
      this._connected = false;
      this._queryable = true;
      this.pipeline = Boolean(config.pipeline);
      this._pipelineInFlight = false;
      const cp = this.connectionParameters = new ConnectionParameters(config);
      if (config.nativeConnectionString) cp.nativeConnectionString = config.nativeConnectionString;
      this.user = cp.user;
      Object.defineProperty(this, "password", {
        configurable: true,
        enumerable: false,
        writable: true,
        value: cp.password
      });
      this.database = cp.database;
      this.host = cp.host;
      this.port = cp.port;
      this.namedQueries = {};
    };
    Client2.Query = NativeQuery;
    util.inherits(Client2, EventEmitter);
    Client2.prototype._errorAllQueries = function(err) {
      const enqueueError = (query) => {
        process.nextTick(() => {
          query.native = this.native;
          query.handleError(err);
        });
      };
      if (this._hasActiveQuery()) {
        enqueueError(this._activeQuery);
        this._activeQuery = null;
      }
      this._queryQueue.forEach(enqueueError);
      this._queryQueue.length = 0;
    };
    Client2.prototype._connect = function(cb) {
      const self = this;
      if (this._connecting) {
        process.nextTick(() => cb(new Error("Client has already been connected. You cannot reuse a client.")));
        return;
      }
      this._connecting = true;
      this.connectionParameters.getLibpqConnectionString(function(err, conString) {
        if (self.connectionParameters.nativeConnectionString) conString = self.connectionParameters.nativeConnectionString;
        if (err) return cb(err);
        self.native.connect(conString, function(err2) {
          if (err2) {
            self.native.end();
            return cb(err2);
          }
          self._connected = true;
          self.native.on("error", function(err3) {
            self._queryable = false;
            self._errorAllQueries(err3);
            self.emit("error", err3);
          });
          self.native.on("notification", function(msg) {
            self.emit("notification", {
              channel: msg.relname,
              payload: msg.extra
            });
          });
          self.emit("connect");
          self._pulseQueryQueue(true);
          cb(null, this);
        });
      });
    };
    Client2.prototype.connect = function(callback) {
      if (callback) {
        this._connect(callback);
        return;
      }
      return new this._Promise((resolve, reject) => {
        this._connect((error) => {
          if (error) {
            reject(error);
          } else {
            resolve(this);
          }
        });
      });
    };
    Client2.prototype.query = function(config, values, callback) {
      let query;
      let result;
      let readTimeout;
      let readTimeoutTimer;
      let queryCallback;
      if (config === null || config === void 0) {
        throw new TypeError("Client was passed a null or undefined query");
      } else if (typeof config.submit === "function") {
        readTimeout = config.query_timeout || this.connectionParameters.query_timeout;
        result = query = config;
        if (typeof values === "function") {
          config.callback = values;
        }
      } else {
        readTimeout = config.query_timeout || this.connectionParameters.query_timeout;
        query = new NativeQuery(config, values, callback);
        if (!query.callback) {
          let resolveOut, rejectOut;
          result = new this._Promise((resolve, reject) => {
            resolveOut = resolve;
            rejectOut = reject;
          }).catch((err) => {
            Error.captureStackTrace(err);
            throw err;
          });
          query.callback = (err, res) => err ? rejectOut(err) : resolveOut(res);
        }
      }
      if (readTimeout) {
        queryCallback = query.callback || (() => {
        });
        readTimeoutTimer = setTimeout(() => {
          const error = new Error("Query read timeout");
          process.nextTick(() => {
            query.handleError(error, this.connection);
          });
          queryCallback(error);
          query.callback = () => {
          };
          const index = this._queryQueue.indexOf(query);
          if (index > -1) {
            this._queryQueue.splice(index, 1);
          }
          this._pulseQueryQueue();
        }, readTimeout);
        query.callback = (err, res) => {
          clearTimeout(readTimeoutTimer);
          queryCallback(err, res);
        };
      }
      if (!this._queryable) {
        query.native = this.native;
        process.nextTick(() => {
          query.handleError(new Error("Client has encountered a connection error and is not queryable"));
        });
        return result;
      }
      if (this._ending) {
        query.native = this.native;
        process.nextTick(() => {
          query.handleError(new Error("Client was closed and is not queryable"));
        });
        return result;
      }
      if (this._queryQueue.length > 0 && !this.pipeline) {
        queryQueueLengthDeprecationNotice();
      }
      this._queryQueue.push(query);
      this._pulseQueryQueue();
      return result;
    };
    Client2.prototype.end = function(cb) {
      const self = this;
      this._ending = true;
      if (this._connecting && !this._connected) {
        this.once("connect", () => {
          this.end(() => {
          });
        });
      }
      let result;
      if (!cb) {
        result = new this._Promise(function(resolve, reject) {
          cb = (err) => err ? reject(err) : resolve();
        });
      }
      const doEnd = function() {
        self.native.end(function() {
          self._connected = false;
          self._errorAllQueries(new Error("Connection terminated"));
          process.nextTick(() => {
            self.emit("end");
            if (cb) cb();
          });
        });
      };
      if (this.pipeline && (this._pipelineInFlight || this._queryQueue.length > 0)) {
        this.once("drain", doEnd);
      } else {
        doEnd();
      }
      return result;
    };
    Client2.prototype._hasActiveQuery = function() {
      return this._activeQuery && this._activeQuery.state !== "error" && this._activeQuery.state !== "end";
    };
    Client2.prototype._pulseQueryQueue = function(initialConnection) {
      if (!this._connected) {
        return;
      }
      if (this.pipeline && !initialConnection) {
        return this._pulsePipelinedQueryQueue();
      }
      if (this._hasActiveQuery()) {
        return;
      }
      const query = this._queryQueue.shift();
      if (!query) {
        if (!initialConnection) {
          this.emit("drain");
        }
        return;
      }
      this._activeQuery = query;
      query.submit(this);
      const self = this;
      query.once("_done", function() {
        self._pulseQueryQueue();
      });
    };
    Client2.prototype._pulsePipelinedQueryQueue = function() {
      if (!this._connected || this._pipelineInFlight) {
        return;
      }
      if (this._queryQueue.length === 0) {
        if (this.hasExecuted) {
          this.emit("drain");
        }
        return;
      }
      this._pipelineInFlight = true;
      const self = this;
      const queries = [];
      const nativeQueries = [];
      const utils = require_utils();
      while (this._queryQueue.length > 0) {
        const query = this._queryQueue.shift();
        this.hasExecuted = true;
        nativeQueries.push(query);
        const values = query.values ? query.values.map(utils.prepareValue) : null;
        const pipelineEntry = { text: query.text, name: query.name, arrayMode: query._arrayMode };
        if (values) {
          pipelineEntry.values = values;
        }
        if (query.name && this.namedQueries[query.name]) {
          pipelineEntry._alreadyPrepared = true;
        }
        queries.push(pipelineEntry);
      }
      this.native.pipeline(queries, function(err, results) {
        self._pipelineInFlight = false;
        if (err) {
          self._connected = false;
          self._queryable = false;
          for (let i = 0; i < nativeQueries.length; i++) {
            const q = nativeQueries[i];
            q.native = self.native;
            q.handleError(err);
          }
          self._errorAllQueries(err);
          self.emit("error", err);
          self.emit("end");
          return;
        }
        for (let i = 0; i < nativeQueries.length; i++) {
          const q = nativeQueries[i];
          const r = results[i];
          q.native = self.native;
          if (r.err) {
            q.handleError(r.err);
          } else {
            if (q.name) {
              self.namedQueries[q.name] = q.text;
            }
            q.state = "end";
            q.emit("end", r.result);
            if (q.callback) {
              q.callback(null, r.result);
            }
          }
          setImmediate(function() {
            q.emit("_done");
          });
        }
        self._pulsePipelinedQueryQueue();
      });
    };
    Client2.prototype.cancel = function(query) {
      if (this._activeQuery === query) {
        this.native.cancel(function() {
        });
      } else if (this._queryQueue.indexOf(query) !== -1) {
        this._queryQueue.splice(this._queryQueue.indexOf(query), 1);
      }
    };
    Client2.prototype.ref = function() {
    };
    Client2.prototype.unref = function() {
    };
    Client2.prototype.setTypeParser = function(oid, format, parseFn) {
      return this._types.setTypeParser(oid, format, parseFn);
    };
    Client2.prototype.getTypeParser = function(oid, format) {
      return this._types.getTypeParser(oid, format);
    };
    Client2.prototype.isConnected = function() {
      return this._connected;
    };
    Client2.prototype.getTransactionStatus = function() {
      return this.native.getTransactionStatus();
    };
  }
});

// node_modules/pg/lib/native/index.js
var require_native = __commonJS({
  "node_modules/pg/lib/native/index.js"(exports2, module2) {
    "use strict";
    module2.exports = require_client2();
  }
});

// node_modules/pg/lib/index.js
var require_lib2 = __commonJS({
  "node_modules/pg/lib/index.js"(exports2, module2) {
    "use strict";
    var Client2 = require_client();
    var defaults2 = require_defaults();
    var Connection2 = require_connection();
    var Result2 = require_result();
    var utils = require_utils();
    var Pool2 = require_pg_pool();
    var TypeOverrides2 = require_type_overrides();
    var { DatabaseError: DatabaseError2 } = require_dist();
    var { escapeIdentifier: escapeIdentifier2, escapeLiteral: escapeLiteral2 } = require_utils();
    var poolFactory = (Client3) => {
      return class BoundPool extends Pool2 {
        constructor(options) {
          super(options, Client3);
        }
      };
    };
    var PG = function(clientConstructor2) {
      this.defaults = defaults2;
      this.Client = clientConstructor2;
      this.Query = this.Client.Query;
      this.Pool = poolFactory(this.Client);
      this._pools = [];
      this.Connection = Connection2;
      this.types = require_pg_types();
      this.DatabaseError = DatabaseError2;
      this.TypeOverrides = TypeOverrides2;
      this.escapeIdentifier = escapeIdentifier2;
      this.escapeLiteral = escapeLiteral2;
      this.Result = Result2;
      this.utils = utils;
    };
    var clientConstructor = Client2;
    var forceNative = false;
    try {
      forceNative = !!process.env.NODE_PG_FORCE_NATIVE;
    } catch {
    }
    if (forceNative) {
      clientConstructor = require_native();
    }
    module2.exports = new PG(clientConstructor);
    Object.defineProperty(module2.exports, "native", {
      configurable: true,
      enumerable: false,
      get() {
        let native = null;
        try {
          native = new PG(require_native());
        } catch (err) {
          if (err.code !== "MODULE_NOT_FOUND") {
            throw err;
          }
        }
        Object.defineProperty(module2.exports, "native", {
          value: native
        });
        return native;
      }
    });
  }
});

// node_modules/pg/esm/index.mjs
var import_lib, Client, Pool, Connection, types, Query, DatabaseError, escapeIdentifier, escapeLiteral, Result, TypeOverrides, defaults;
var init_esm = __esm({
  "node_modules/pg/esm/index.mjs"() {
    import_lib = __toESM(require_lib2(), 1);
    Client = import_lib.default.Client;
    Pool = import_lib.default.Pool;
    Connection = import_lib.default.Connection;
    types = import_lib.default.types;
    Query = import_lib.default.Query;
    DatabaseError = import_lib.default.DatabaseError;
    escapeIdentifier = import_lib.default.escapeIdentifier;
    escapeLiteral = import_lib.default.escapeLiteral;
    Result = import_lib.default.Result;
    TypeOverrides = import_lib.default.TypeOverrides;
    defaults = import_lib.default.defaults;
  }
});

// src/agent/node-status.ts
function statusLine(facts, full) {
  if (!facts.initialized) return "empty 0/0 none 0 0/0";
  const answered = (answer, checkpoint2) => `${answer.role} ${answer.lsn} ${answer.receiver} ${answer.timeline} ${checkpoint2}`;
  if (!full && facts.answer !== void 0) return answered(facts.answer, "-");
  const control = facts.control;
  if (control === void 0) return void 0;
  if (!facts.running) return `down 0/0 none ${control.timeline} ${control.checkpoint}`;
  if (facts.answer !== void 0) return answered(facts.answer, control.checkpoint);
  const role = control.state === 6 ? "primary" : control.state === 5 ? "replica" : "starting";
  return `${role} ? none ${control.timeline} ${control.checkpoint}`;
}
var STATUS_SQL;
var init_node_status = __esm({
  "src/agent/node-status.ts"() {
    "use strict";
    STATUS_SQL = `SELECT 'replica' AS role, greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), r.written_lsn)::text AS lsn,
    coalesce(r.status, 'none') AS receiver, coalesce(r.received_tli, 0) AS timeline
  FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true WHERE pg_is_in_recovery()
  UNION ALL
  SELECT 'primary', pg_current_wal_lsn()::text, 'none', ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
  WHERE NOT pg_is_in_recovery()`;
  }
});

// src/agent/automatic-failover.ts
function leaseStateOf(lease) {
  const spec = typeof lease.spec === "object" && lease.spec !== null ? lease.spec : {};
  const annotations = lease.metadata?.annotations ?? {};
  const text = (value) => typeof value === "string" && value !== "" ? value : void 0;
  const duration = spec.leaseDurationSeconds;
  return {
    renewTime: text(spec.renewTime),
    leaseDurationSeconds: typeof duration === "number" && Number.isInteger(duration) && duration > 0 ? duration : void 0,
    holder: text(spec.holderIdentity),
    walPosition: text(annotations[WAL_POSITION_ANNOTATION]),
    paused: annotations[PAUSE_ANNOTATION] === "true",
    failoverRequest: text(typeof annotations[FAILOVER_REQUEST] === "string" ? annotations[FAILOVER_REQUEST].trim() : void 0)
  };
}
function leaseHeld(lease, record) {
  return record?.state === "stable" && lease.renewTime !== void 0 && lease.leaseDurationSeconds !== void 0 && lease.holder === record.primary;
}
function leaseShown(lease) {
  return lease.renewTime !== void 0 || lease.leaseDurationSeconds !== void 0;
}
function leaseKey(record, lease) {
  return `${describeRecord(record)}|${lease.renewTime ?? ""}`;
}
function primaryRenewal(facts, record, serving) {
  if (!serving && facts.secondsSinceServing >= facts.primaryRestartGraceSeconds) {
    return {
      renew: "lapse",
      reason: `PostgreSQL has not served for ${facts.primaryRestartGraceSeconds}s (primaryRestartGraceSeconds): no longer renewing the lease, for a replica to take over once it lapses (${describeRecord(record)})`
    };
  }
  if (serving && facts.secondsSinceRenewed >= facts.renewDeadlineSeconds) return { renew: "or-fence" };
  if (facts.secondsSinceRenewed >= facts.renewSeconds || !leaseHeld(facts.lease, record)) return { renew: "due" };
  return { renew: "no" };
}
function lapsed(facts, record, podName) {
  if (record?.state !== "stable" || record.primary === podName) return { lapsed: false, why: "no primary to take over from" };
  if (!leaseHeld(facts.lease, record)) return { lapsed: false, why: `${record.primary} holds no lease (it runs without automatic failover)` };
  if (facts.secondsSinceLeaseChange < facts.leaseSeconds) return { lapsed: false, why: "the lease is held" };
  if (facts.lease.paused) return { lapsed: false, why: `the lease of ${record.primary} has lapsed, but automatic failover is paused (${PAUSE_ANNOTATION})` };
  if (facts.secondsSincePrimaryChange < facts.minimumIntervalSeconds) {
    return { lapsed: false, why: `the lease of ${record.primary} has lapsed, but the primary changed less than ${facts.minimumIntervalSeconds}s ago (minimumFailoverIntervalSeconds)` };
  }
  return { lapsed: true, why: `the lease of ${record.primary} has lapsed: not renewed for ${facts.leaseSeconds}s` };
}
function requestUnanswered(request3, record, podName) {
  if (request3 === void 0) return { lapsed: false, why: "no failover request" };
  if (record?.state !== "stable" || record.primary === podName) return { lapsed: false, why: "no primary to fail over from" };
  if (request3.secondsUnanswered < request3.answerSeconds) {
    return { lapsed: false, why: `a failover to ${request3.target} is requested (${FAILOVER_REQUEST}); waiting ${request3.answerSeconds}s for ${record.primary} to answer it` };
  }
  return { lapsed: true, why: `${record.primary} did not answer the failover request (${FAILOVER_REQUEST}=${request3.target}) within ${request3.answerSeconds}s` };
}
function decideTakeover(facts) {
  const { record, self, cause } = facts;
  const wait = (reason) => ({ kind: "wait", reason: `not taking over from ${record.primary}: ${reason}` });
  const requested = cause.kind === "request" && cause.target !== "any" ? cause.target : void 0;
  const serving = facts.peers.filter((peer) => peer.role === "primary").map((peer) => peer.pod);
  if (serving.length > 0) return wait(`${serving.join(", ")} still serves as a primary`);
  if (facts.secondsSincePrimaryAnswered < facts.leaseSeconds) {
    return wait(`it answered as a primary less than ${facts.leaseSeconds}s ago, and may still serve (failsafe) until it misses this pod`);
  }
  if (self.role !== "replica" || parseLsn(self.lsn) === void 0) return wait(`this pod's PostgreSQL is not a replica that answers (${self.role} at ${self.lsn})`);
  if (record.systemIdentifier !== void 0 && facts.systemIdentifier !== record.systemIdentifier) {
    return wait(`this pod's data is not the recorded cluster's (system identifier ${facts.systemIdentifier ?? "unknown"}, recorded ${record.systemIdentifier})`);
  }
  if (facts.timeline !== record.timeline) {
    return wait(`this pod's data is on timeline ${facts.timeline ?? "unknown"}, the recorded primary's on ${record.timeline}`);
  }
  const published = facts.primaryWalPosition === void 0 ? void 0 : parseLsn(facts.primaryWalPosition);
  if (published !== void 0) {
    const lag = published - parseLsn(self.lsn);
    if (lag > BigInt(facts.maximumLagBytes)) {
      return wait(`this replica is ${lag} bytes behind the primary's last published position ${facts.primaryWalPosition} (maximumLagOnFailover ${facts.maximumLagBytes})`);
    }
  }
  const otherTimeline = (peer) => peer.role === "replica" && peer.timeline !== void 0 && peer.timeline !== 0 && peer.timeline !== record.timeline;
  const peers = facts.peers.map((peer) => peer.pod === record.primary || otherTimeline(peer) ? { pod: peer.pod, role: "unreachable", lsn: "?" } : peer);
  const candidates = [self, ...peers].sort((a, b) => a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0);
  const choice = chooseFailoverTarget({
    candidates,
    previous: record.primary,
    syncReplicas: facts.syncReplicas,
    syncSet: record.sync,
    acceptDataLoss: false,
    requestedTarget: requested,
    scaleDownTo: void 0
  });
  if (choice.kind === "refuse") return wait(choice.reason);
  if (choice.target !== facts.podName) return wait(`${choice.target} is the replica to promote (${choice.reason})`);
  const sync = facts.syncReplicas > 0 ? [...facts.otherPods].sort() : [];
  const next = takeOverLapsedLease(record, facts.podName, sync);
  const why = cause.kind === "lease" ? `AUTOMATIC FAILOVER: the lease of ${record.primary} lapsed` : `REQUESTED FAILOVER: ${record.primary} did not answer the failover request (${FAILOVER_REQUEST}=${cause.target}) within ${facts.leaseSeconds}s`;
  return {
    kind: "take-over",
    record: next,
    reason: `${why} and this pod is the replica to promote (${choice.reason}): recording it as the primary (${describeRecord(next)}), then promoting it`
  };
}
var PAUSE_ANNOTATION, FAILOVER_REQUEST, WAL_POSITION_ANNOTATION, NO_LEASE;
var init_automatic_failover = __esm({
  "src/agent/automatic-failover.ts"() {
    "use strict";
    init_failover_target();
    init_record();
    init_transitions();
    PAUSE_ANNOTATION = "failover.postgres.cdk8s.io/paused";
    FAILOVER_REQUEST = "failover.postgres.cdk8s.io/target";
    WAL_POSITION_ANNOTATION = "failover.postgres.cdk8s.io/wal-position";
    NO_LEASE = {
      renewTime: void 0,
      leaseDurationSeconds: void 0,
      holder: void 0,
      walPosition: void 0,
      paused: false,
      failoverRequest: void 0
    };
  }
});

// src/agent/sidecar.ts
function plan(reason, ...steps) {
  return { steps, reason };
}
function authorizes(record, podName) {
  if (record.state === "stable") return record.primary === podName;
  return record.state === "failing-over" && record.target === podName;
}
function owesCheckpoint(record, podName) {
  return record?.state === "switching-over" && record.previous === podName && record.checkpoint === void 0;
}
function awaitsCheckpoint(record, podName) {
  return record?.state === "switching-over" && record.target === podName && record.checkpoint !== void 0;
}
function streamsTimeline(sender, switchpoint) {
  if (sender.state !== "streaming" && sender.state !== "catchup") return false;
  if (switchpoint === void 0) return true;
  const sent = parseLsn(sender.sent ?? "");
  const begun = parseLsn(switchpoint);
  return sent !== void 0 && begun !== void 0 && sent > begun;
}
function shutdownCheckpointUpdate(record, podName, control) {
  if (!owesCheckpoint(record, podName) || !control.shutDown || !/^[0-9A-F]+\/[0-9A-F]+$/.test(control.checkpoint)) return void 0;
  return recordCheckpoint(record, control.checkpoint);
}
function timelineUpdate(record, timeline) {
  if (timeline === void 0 || timeline === record.timeline) return void 0;
  return recordTimeline(record, timeline);
}
function syncSetOf(facts) {
  if (facts.syncReplicas <= 0) return [];
  return facts.otherPods === void 0 ? void 0 : [...facts.otherPods].sort();
}
function newerDelivery(delivered, heldVersion, now, freshSeconds) {
  const held = delivered.map((d) => d.version).lastIndexOf(heldVersion);
  if (held < 0 || held === delivered.length - 1) return void 0;
  const latest = delivered[delivered.length - 1];
  return now - latest.at <= freshSeconds ? latest : void 0;
}
function decideSidecarStep(facts) {
  const me = facts.podName;
  if (facts.record.kind === "unreadable") {
    const why = `the leader record cannot be read (${facts.record.error})`;
    const steps = [{ do: "fence" }];
    if (owesCheckpoint(facts.record.last, me)) steps.push({ do: "report-checkpoint" });
    const lease = facts.automaticFailover;
    const pastDeadline = lease !== void 0 && lease.secondsSinceRenewed >= lease.renewDeadlineSeconds;
    if (facts.server === "primary" && facts.failsafe && (pastDeadline || facts.secondsSinceRecordRead >= facts.isolationFenceSeconds)) {
      return plan(`FAILSAFE: ${why}, but every other pod streams from this primary: it keeps serving (nobody takes over from a primary that its replicas still follow)`);
    }
    if (facts.server === "primary" && facts.secondsSinceRecordRead >= facts.isolationFenceSeconds) {
      return plan(`FENCING this primary: ${why} for ${facts.secondsSinceRecordRead}s (isolated from the API?)`, ...steps);
    }
    if (facts.server === "primary" && lease !== void 0 && lease.secondsSinceRenewed >= lease.renewDeadlineSeconds) {
      return plan(`FENCING this primary: ${why}, and its lease was last renewed ${lease.renewDeadlineSeconds}s ago or more (renewDeadlineSeconds): a replica may take over once it lapses`, ...steps);
    }
    return plan(`${why}: nothing changes (a primary fences itself after ${facts.isolationFenceSeconds}s)`);
  }
  const record = facts.record.record;
  switch (facts.server) {
    case "primary":
      return decidePrimary(facts, record);
    case "replica":
      return decideReplica(facts, record);
    default: {
      const steps = [{ do: "label", role: "none" }];
      if (owesCheckpoint(record, me)) steps.push({ do: "report-checkpoint" });
      const lease = facts.automaticFailover;
      if (lease !== void 0 && record?.state === "stable" && record.primary === me) {
        const renewal = primaryRenewal(lease, record, false);
        if (renewal.renew === "lapse") return plan(renewal.reason, ...steps);
        if (renewal.renew !== "no") steps.push({ do: "renew", fenceOnFailure: false });
      }
      return plan(`PostgreSQL is not serving: no role label (${describeRecord(record)})`, ...steps);
    }
  }
}
function decidePrimary(facts, record) {
  const me = facts.podName;
  if (record === void 0) {
    if (facts.timeline === void 0) return plan("no leader record, and this primary does not say its timeline: creating the record next round");
    const sync = facts.syncReplicas > 0 ? facts.otherPods : [];
    if (sync === void 0) return plan("no leader record, and the pods cannot be listed for the synchronous set: creating the record next round");
    const created = createRecord({ primary: me, timeline: facts.timeline, systemIdentifier: facts.systemIdentifier, sync });
    return plan(`no leader record: recording this primary (${describeRecord(created)})`, { do: "create-record", record: created }, { do: "soon" });
  }
  if (!authorizes(record, me)) {
    if (owesCheckpoint(record, me) && facts.targetStreams === false) {
      const back = giveBack(record);
      return plan(
        `a switchover to ${record.target}, which does not stream this primary's timeline: it could not receive this primary's last WAL, so this primary does not fence itself and gives the switchover back (${describeRecord(back)})`,
        { do: "write-record", record: back, transition: "giveBack" },
        { do: "label", role: "primary" },
        { do: "soon" }
      );
    }
    const steps = [{ do: "fence" }];
    if (owesCheckpoint(record, me)) steps.push({ do: "report-checkpoint" });
    return plan(`FENCING this primary: the leader record does not name this pod (${describeRecord(record)})`, ...steps);
  }
  if (record.state === "stable") {
    const steps = [];
    const lease = facts.automaticFailover;
    if (lease !== void 0) {
      const renewal = primaryRenewal(lease, record, true);
      if (renewal.renew !== "no") steps.push({ do: "renew", fenceOnFailure: renewal.renew === "or-fence" && !facts.failsafe });
    } else if (facts.leaseShown) {
      steps.push({ do: "release-lease" });
    }
    return plan(
      `the leader record names this primary (${describeRecord(record)})`,
      ...steps,
      { do: "label", role: "primary" },
      { do: "maintain-primary" },
      { do: "apply-credentials" }
    );
  }
  return plan(`a failover job is promoting this pod (${describeRecord(record)}): no label until the record names it`);
}
function decideReplica(facts, record) {
  const me = facts.podName;
  const others = facts.otherPods ?? [];
  if (record?.state === "stable" && record.primary === me) {
    return plan(
      `the leader record names this pod as the primary: promoting it (${describeRecord(record)})`,
      { do: "promote", others },
      { do: "label", role: "primary" },
      { do: "record-timeline" }
    );
  }
  if (awaitsCheckpoint(record, me)) {
    if (facts.receivedBeyondCheckpoint !== true) {
      return plan(
        `switchover to this pod: waiting to receive WAL beyond the old primary's shutdown checkpoint ${record.checkpoint}`,
        { do: "label", role: "replica" },
        { do: "soon" }
      );
    }
    const sync = syncSetOf(facts);
    if (sync === void 0) {
      return plan("switchover to this pod: the pods cannot be listed for the synchronous set; trying again next round", { do: "label", role: "replica" });
    }
    const next = takeOverSwitchover(record, sync);
    return plan(
      `received the old primary's shutdown checkpoint ${record.checkpoint}: recording this pod as the primary (${describeRecord(next)}), then promoting it`,
      { do: "label", role: "replica" },
      { do: "write-record", record: next, transition: "takeOverSwitchover" },
      { do: "promote", others },
      { do: "label", role: "primary" },
      { do: "record-timeline" }
    );
  }
  const steps = [{ do: "label", role: "replica" }];
  if (record?.state === "stable") steps.push({ do: "follow-new-primary", epoch: record.epoch, timeline: record.timeline });
  if (owesCheckpoint(record, me)) steps.push({ do: "report-checkpoint" });
  steps.push({ do: "check-replica-wal" });
  const lease = facts.automaticFailover === void 0 ? void 0 : lapsed(facts.automaticFailover, record, me);
  const request3 = facts.failoverRequest;
  const unanswered = requestUnanswered(request3, record, me);
  if (lease?.lapsed === true) {
    steps.push({ do: "consider-takeover", cause: { kind: "lease" } });
  } else if (unanswered.lapsed && request3 !== void 0) {
    steps.push({ do: "consider-takeover", cause: { kind: "request", target: request3.target } });
  }
  const heldBack = lease !== void 0 && !lease.lapsed && / lapsed/.test(lease.why) ? `; ${lease.why}` : "";
  const waiting = request3 !== void 0 && !unanswered.lapsed && lease?.lapsed !== true && / requested/.test(unanswered.why) ? `; ${unanswered.why}` : "";
  return plan(`PostgreSQL is a replica (${describeRecord(record)})${heldBack}${waiting}`, ...steps);
}
function nextSyncSet(facts) {
  const next = new Set(facts.others);
  for (const member of facts.recorded) {
    if (facts.others.includes(member)) continue;
    const caughtUp = facts.caughtUp[member];
    if (caughtUp === void 0) return void 0;
    if (caughtUp < facts.syncReplicas) next.add(member);
  }
  const sync = [...next].sort();
  return { sync, changed: sync.join(",") !== facts.recorded.join(",") };
}
var init_sidecar = __esm({
  "src/agent/sidecar.ts"() {
    "use strict";
    init_automatic_failover();
    init_failover_target();
    init_record();
    init_transitions();
  }
});

// src/agent/start.ts
function isBootstrapWait(decided) {
  const [only, ...more] = decided.steps;
  return more.length === 0 && only?.do === "wait" && only.retry === "bootstrap";
}
function isPodZero(podName) {
  return podName.slice(podName.lastIndexOf("-") + 1) === "0";
}
function plan2(reason, ...steps) {
  return { steps, reason };
}
function decideStart(facts) {
  if (facts.data.kind === "not-a-data-directory") {
    return plan2("the data directory is not a PostgreSQL data directory (no PG_VERSION) but is not empty: move its files away, then restart the pod", { do: "fail" });
  }
  if ((facts.data.kind === "data" || facts.data.kind === "unreadable") && facts.data.version !== String(facts.postgresVersion)) {
    return plan2(`the data directory is PostgreSQL ${facts.data.version}'s (PG_VERSION), and this pod runs PostgreSQL ${facts.postgresVersion}: a server never starts on another major's data. Set postgresVersion back to ${facts.data.version} and apply, or upgrade (README: Major-version upgrades)`, { do: "fail" });
  }
  if (facts.data.kind === "unreadable") {
    return plan2(`the data directory's pg_control cannot be read (${facts.data.reason}): refusing to guess what this data is`, { do: "fail" });
  }
  if (facts.record.kind === "stale") {
    return plan2("the role-labeler sidecar cannot read the leader record now: waiting, never deciding on an older read", WAIT);
  }
  if (facts.record.kind === "malformed") {
    return plan2(`the leader record cannot be used (${facts.record.error}): waiting for a person to repair it`, WAIT);
  }
  const record = facts.record.record;
  const data = facts.data;
  const reclone = record?.state === "stable" && facts.recloneRequested && data.kind === "data" && record.primary !== facts.podName && data.standbySignal;
  const first = reclone ? [{ do: "discard-data", keep: false }] : [];
  if (facts.recloneRequested) first.push({ do: "remove-reclone-marker" });
  if (reclone) {
    const decided2 = decideEmpty(facts, record);
    return { steps: [...first, ...decided2.steps], reason: `the sidecar found that the primary no longer keeps the WAL this replica needs: discarding its data; ${decided2.reason}` };
  }
  const decided = data.kind === "empty" ? decideEmpty(facts, record) : withHotStandbySettings(decideWithData(facts, record, data), hotStandbyRaises(facts.configured, data.hotStandby));
  return { steps: [...first, ...decided.steps], reason: decided.reason };
}
function hotStandbyRaises(configured, required2) {
  if (configured === void 0) return [];
  return HOT_STANDBY_SETTINGS.filter((name) => configured[name] < required2[name]).map((name) => ({ name, value: required2[name] }));
}
function withHotStandbySettings(decided, raises) {
  if (raises.length === 0 || !decided.steps.some((step) => step.do === "start" && step.as === "replica")) return decided;
  const said = raises.map((raise) => `${raise.name} ${raise.value}`).join(", ");
  return {
    steps: decided.steps.map((step) => step.do === "start" && step.as === "replica" ? { ...step, settings: raises } : step),
    reason: `${decided.reason}; with ${said} (the primary's WAL requires at least that on a replica, more than configured: the configured value takes effect once the primary runs with it)`
  };
}
function decideEmpty(facts, record) {
  if (record === void 0) {
    if (!isPodZero(facts.podName)) {
      return plan2("no leader record yet and an empty volume: waiting for pod 0 to initialize the cluster", { do: "wait", retry: "bootstrap" });
    }
    if (facts.restoreFrom) {
      return plan2(
        "no leader record exists and the volume is empty: restoring the backup (restoreFrom), with this pod as the new cluster's primary",
        { do: "restore", onFailure: "wait" },
        { do: "start", as: "primary" }
      );
    }
    return plan2(
      "no leader record exists and the volume is empty: initializing a new cluster, with this pod as its primary",
      { do: "initialize" },
      { do: "start", as: "primary" }
    );
  }
  if (record.state !== "stable") {
    return plan2(`an empty volume, and a failover job holds the leader record (${describeRecord(record)}): waiting for its end`, WAIT);
  }
  if (record.primary === facts.podName) {
    return plan2(`the leader record names this pod as the primary, but its volume is empty: its data is lost. Never initializing a second cluster: start the failover job to promote a replica (${describeRecord(record)})`, WAIT);
  }
  return plan2(
    `an empty volume: cloning from the recorded primary ${record.primary}, then starting as its replica`,
    ...syncMembership(facts),
    { do: "clone", from: record.primary, onFailure: "wait" },
    { do: "start", as: "replica" }
  );
}
function decideWithData(facts, record, data) {
  if (record?.systemIdentifier !== void 0 && record.systemIdentifier !== data.systemIdentifier) {
    if (data.initializedByEntrypoint) {
      return plan2(`another pod created the cluster's leader record first (system identifier ${record.systemIdentifier}); this pod's new cluster (${data.systemIdentifier}) was never used: discarding it`, { do: "discard-data", keep: true }, { do: "decide-again" });
    }
    return plan2(`this pod's data belongs to another database cluster (system identifier ${data.systemIdentifier}; the leader record's is ${record.systemIdentifier}); refusing to touch it. Move the data away (or restore the right volume), then restart the pod`, { do: "fail" });
  }
  if (record === void 0) {
    if (data.standbySignal) return plan2("a replica's data and no leader record: waiting for the primary's sidecar to create it", WAIT);
    return plan2(
      "no leader record: this pod's data is a primary's; starting as the primary (its sidecar records it, unless another pod is recorded first)",
      { do: "start", as: "primary" }
    );
  }
  const decided = decideWithRecord(facts, record, data);
  return data.initializedByEntrypoint ? { ...decided, steps: [{ do: "remove-init-marker" }, ...decided.steps] } : decided;
}
function decideWithRecord(facts, record, data) {
  if (record.state !== "stable") {
    if (record.target === facts.podName && !data.standbySignal) {
      return plan2(`a failover job promoted this pod (${describeRecord(record)}): starting as the primary`, { do: "start", as: "primary" });
    }
    if (data.standbySignal) {
      return plan2(`a failover job holds the leader record (${describeRecord(record)}): starting as a replica`, { do: "start", as: "replica" });
    }
    return plan2(`this pod's data is a former primary's and a failover job holds the leader record (${describeRecord(record)}): waiting for its end`, WAIT);
  }
  if (record.primary === facts.podName) {
    if (data.standbySignal && data.recoveryState) {
      return plan2(`the leader record names this pod as the primary (${describeRecord(record)}), and its data is a replica's: starting in recovery; its sidecar promotes it (a new timeline)`, { do: "start", as: "replica" });
    }
    const steps = data.standbySignal ? [{ do: "remove-standby-signal" }] : [];
    return plan2(`the leader record names this pod as the primary (${describeRecord(record)}): starting as the primary`, ...steps, { do: "start", as: "primary" });
  }
  if (data.timeline > record.timeline) return decideNewerTimeline(facts, record, data);
  if (!data.standbySignal) {
    if (record.timeline <= data.timeline) {
      return plan2(`this pod's data is a former primary's, on a timeline (${data.timeline}) not older than the recorded primary's (${record.primary}, timeline ${record.timeline}): never rewinding onto an older timeline. A person must decide: see the README (split brain)`, WAIT);
    }
    if (!facts.recordedPrimaryAnswers) {
      return plan2(`this pod was a primary; the recorded primary ${record.primary} does not answer, and only it can say how to rejoin`, WAIT);
    }
    return plan2(
      `the leader record names ${record.primary} (epoch ${record.epoch}, timeline ${record.timeline}); this pod's data is on timeline ${data.timeline}: rejoining as its replica`,
      { do: "rewind", from: record.primary, onFailure: "wait" },
      ...syncMembership(facts),
      { do: "start", as: "replica" }
    );
  }
  if (record.timeline > data.timeline && data.shutDownCleanly && facts.recordedPrimaryAnswers) {
    return plan2(
      `the primary is on a newer timeline (${record.timeline}) than this replica (${data.timeline}): checking that this replica can follow it`,
      { do: "rewind", from: record.primary, onFailure: "exit" },
      ...syncMembership(facts),
      { do: "start", as: "replica" }
    );
  }
  return plan2(`the data directory is a replica's: starting as a replica of ${record.primary}`, ...syncMembership(facts), { do: "start", as: "replica" });
}
function decideNewerTimeline(facts, record, data) {
  const primary = facts.recordedPrimaryTimeline;
  if (primary === void 0) {
    return plan2(`this pod's data is on timeline ${data.timeline}, newer than the leader record's (${record.timeline}); the recorded primary ${record.primary} does not answer, and only it can say whether this pod's timeline is one the record never named`, WAIT);
  }
  if (primary !== record.timeline) {
    return plan2(
      `the leader record's timeline (${record.timeline}) is behind its primary's (${primary}): waiting for its sidecar to record it`,
      { do: "wait", retry: "bootstrap" }
    );
  }
  return plan2(
    `this pod was promoted outside the leader record (timeline ${data.timeline}; the record names ${record.primary} on timeline ${record.timeline}): an unrecorded divergence, not a newer primary. Keeping its WAL since aside, then rejoining ${record.primary}`,
    { do: "keep-diverged-wal", after: record.timeline, through: data.timeline, primary: record.primary },
    { do: "rewind", from: record.primary, onFailure: "wait" },
    ...syncMembership(facts),
    { do: "start", as: "replica" }
  );
}
function syncMembership(facts) {
  return facts.syncReplicas > 0 ? [{ do: "await-sync-membership" }] : [];
}
function asksRecordedPrimary(facts) {
  const record = facts.record.kind === "read" ? facts.record.record : void 0;
  const data = facts.data;
  if (record?.state !== "stable" || record.primary === facts.podName || data.kind !== "data") return false;
  return data.timeline !== record.timeline;
}
function stepText(step) {
  switch (step.do) {
    case "discard-data":
      return `discard-data ${step.keep ? "keep" : "delete"}`;
    case "restore":
      return `restore ${step.onFailure}`;
    case "clone":
    case "rewind":
      return `${step.do} ${step.from} ${step.onFailure}`;
    case "keep-diverged-wal":
      return `keep-diverged-wal ${step.after} ${step.through} ${step.primary}`;
    case "start":
      return ["start", step.as, ...(step.settings ?? []).map((setting) => `${setting.name}=${setting.value}`)].join(" ");
    case "wait":
      return `wait ${step.retry}`;
    default:
      return step.do;
  }
}
function startPlanText(request3, decided) {
  const lines = [`request=${request3}`, `reason=${decided.reason.replace(/\s*\n\s*/g, " ")}`, ...decided.steps.map((step) => `step=${stepText(step)}`)];
  return `${lines.join("\n")}
`;
}
var HOT_STANDBY_SETTINGS, WAIT;
var init_start = __esm({
  "src/agent/start.ts"() {
    "use strict";
    init_record();
    HOT_STANDBY_SETTINGS = ["max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions", "max_locks_per_transaction"];
    WAIT = { do: "wait", retry: "normal" };
  }
});

// src/agent/postgres.ts
var postgres_exports = {};
__export(postgres_exports, {
  DbState: () => DbState,
  LocalPostgres: () => LocalPostgres,
  controlOf: () => controlOf,
  endSlotSender: () => endSlotSender,
  fastShutdown: () => fastShutdown,
  observedRole: () => observedRole,
  peerStatus: () => peerStatus,
  primaryLacksWal: () => primaryLacksWal,
  readControlFile: () => readControlFile,
  readPostmaster: () => readPostmaster,
  slotOf: () => slotOf,
  slotSender: () => slotSender,
  writeStandbySignal: () => writeStandbySignal
});
function readPostmaster(pgdata) {
  let text;
  try {
    text = fs3.readFileSync(path.join(pgdata, "postmaster.pid"), "utf8");
  } catch {
    return void 0;
  }
  const lines = text.split("\n");
  if (!/^[1-9][0-9]*$/.test(lines[0].trim())) return void 0;
  const pid = Number(lines[0].trim());
  return { pid, ready: (lines[7] ?? "").trim() === "ready", alive: processExists(pid) };
}
function processExists(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (error.code !== "EPERM") return false;
  }
  let stat;
  try {
    stat = fs3.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return true;
  }
  return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
}
function readControlFile(pgdata) {
  const file = path.join(pgdata, "global", "pg_control");
  let data;
  try {
    data = fs3.readFileSync(file);
  } catch (error) {
    return { kind: "unreadable", reason: `cannot read ${file}: ${error.message}` };
  }
  if (data.length < 512) return { kind: "unreadable", reason: `${file} has ${data.length} bytes, not a pg_control` };
  const controlVersion = data.readUInt32LE(8);
  if (!KNOWN_CONTROL_VERSIONS.includes(controlVersion)) {
    return { kind: "unreadable", reason: `${file} has pg_control_version ${controlVersion}, whose layout is not known here (${KNOWN_CONTROL_VERSIONS.join(", ")} are)` };
  }
  if (!hasValidChecksum(data)) return { kind: "unreadable", reason: `${file}: its CRC does not match its contents (being written?)` };
  const state = data.readUInt32LE(16);
  const checkpoint2 = `${data.readUInt32LE(36).toString(16)}/${data.readUInt32LE(32).toString(16)}`.toUpperCase();
  return {
    kind: "read",
    control: {
      systemIdentifier: data.readBigUInt64LE(0).toString(),
      controlVersion,
      state,
      shutDown: state === 1 /* SHUT_DOWN */,
      checkpoint: checkpoint2,
      timeline: data.readUInt32LE(48),
      // MaxConnections (int32 @180), then max_worker_processes, max_wal_senders, max_prepared_xacts, max_locks_per_xact,
      // in both formats.
      hotStandby: Object.fromEntries(HOT_STANDBY_SETTINGS.map((name, i) => [name, data.readInt32LE(180 + 4 * i)]))
    }
  };
}
function hasValidChecksum(data) {
  let crc = 4294967295;
  for (let offset = 0; offset + 4 <= 512; offset += 4) {
    if (offset >= 56 && (crc ^ 4294967295) >>> 0 === data.readUInt32LE(offset)) return true;
    for (let i = offset; i < offset + 4; i++) crc = CRC32C_TABLE[(crc ^ data[i]) & 255] ^ crc >>> 8;
  }
  return false;
}
function observedRole(pgdata) {
  const postmaster = readPostmaster(pgdata);
  if (!postmaster?.ready || !postmaster.alive) return "not-serving";
  const state = controlOf(pgdata)?.state;
  if (state === 6 /* IN_PRODUCTION */) return "primary";
  if (state === 5 /* IN_ARCHIVE_RECOVERY */) return "replica";
  return "not-serving";
}
async function fastShutdown(pgdata, timeoutMs, until = "exit") {
  const postmaster = readPostmaster(pgdata);
  if (postmaster === void 0) return true;
  const inProduction = until === "shutdown-checkpoint" && controlOf(pgdata)?.state === 6 /* IN_PRODUCTION */;
  try {
    process.kill(postmaster.pid, "SIGINT");
  } catch (error) {
    if (error.code === "ESRCH") return true;
    throw new Error(`cannot signal the postmaster ${postmaster.pid} of ${pgdata}: ${error.message}`);
  }
  const deadline = performance.now() + timeoutMs;
  for (; ; ) {
    if (!postmasterRuns(pgdata, postmaster.pid)) return true;
    if (inProduction && controlOf(pgdata)?.state === 1 /* SHUT_DOWN */) return true;
    if (performance.now() >= deadline) return false;
    await sleep2(5);
  }
}
function controlOf(pgdata) {
  const read = readControlFile(pgdata);
  return read.kind === "read" ? read.control : void 0;
}
function postmasterRuns(pgdata, pid) {
  return readPostmaster(pgdata)?.pid === pid && processExists(pid);
}
function writeStandbySignal(pgdata) {
  fs3.closeSync(fs3.openSync(path.join(pgdata, "standby.signal"), "a"));
}
function slotOf(pod) {
  return pod.replace(/-/g, "_");
}
function isStatementError(error) {
  return error instanceof DatabaseError && error.severity === "ERROR" || error instanceof Refusal;
}
async function createMissingSlots(query, slotNames) {
  const rows = await query(`SELECT (pg_create_physical_replication_slot(name, true)).slot_name AS slot FROM unnest($1::text[]) AS name
    WHERE name IS NOT NULL AND name NOT IN (SELECT slot_name FROM pg_replication_slots)`, [slotNames]);
  return rows.map((row) => row.slot);
}
function destroyClient(client) {
  client.end().catch(() => void 0);
  client.connection.stream.destroy();
}
async function endClient(client, timeoutMs) {
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([client.end().catch(() => void 0), timedOut]);
  clearTimeout(timer);
  client.connection.stream.destroy();
}
async function primaryLacksWal(primary, position) {
  return askOverNetwork(primary, async (client) => {
    const rows = await client.query(
      `SELECT NOT pg_is_in_recovery() AND NOT EXISTS (
        SELECT 1 FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND substr(name, 9, 16) = substr(pg_walfile_name($1::pg_lsn), 9, 16)) AS gone`,
      [position]
    );
    return rows.rows[0].gone;
  });
}
async function slotSender(primary, slot) {
  return askOverNetwork(primary, async (client) => {
    const rows = await client.query("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active", [slot]);
    const pid = rows.rows[0]?.active_pid;
    return typeof pid === "number" ? pid : null;
  });
}
async function endSlotSender(primary, slot, pid) {
  return askOverNetwork(primary, async (client) => {
    const rows = await client.query(`SELECT pg_terminate_backend(active_pid) AS ended FROM pg_replication_slots
      WHERE slot_name = $1 AND active_pid = $2`, [slot, pid]);
    return rows.rows[0]?.ended === true;
  });
}
async function peerStatus(peer) {
  return askOverNetwork(peer, async (client) => {
    const row = (await client.query(STATUS_SQL)).rows[0];
    if (row === void 0) return void 0;
    return { role: row.role, lsn: row.lsn ?? "", receiver: row.receiver, timeline: Number(row.timeline) };
  });
}
async function askOverNetwork(server, ask) {
  const client = new Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: "postgres",
    application_name: "postgres-agent",
    ssl: server.ssl ? { rejectUnauthorized: false } : false,
    connectionTimeoutMillis: server.connectTimeoutMs,
    statement_timeout: server.connectTimeoutMs,
    query_timeout: server.connectTimeoutMs + 1e3
  });
  client.on("error", () => void 0);
  try {
    await client.connect();
    return await ask(client);
  } catch {
    return void 0;
  } finally {
    await endClient(client, 1e3);
  }
}
async function sleep2(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
var fs3, path, DbState, KNOWN_CONTROL_VERSIONS, CRC32C_TABLE, PROMOTION_LOOK_SQL, CREDENTIALS_TIMEOUT_MS, STREAMED_A_SECOND_SQL, LocalPostgres, Refusal;
var init_postgres = __esm({
  "src/agent/postgres.ts"() {
    "use strict";
    fs3 = __toESM(require("fs"));
    path = __toESM(require("path"));
    init_esm();
    init_failover_target();
    init_node_status();
    init_sidecar();
    init_start();
    DbState = /* @__PURE__ */ ((DbState2) => {
      DbState2[DbState2["STARTUP"] = 0] = "STARTUP";
      DbState2[DbState2["SHUT_DOWN"] = 1] = "SHUT_DOWN";
      DbState2[DbState2["SHUT_DOWN_IN_RECOVERY"] = 2] = "SHUT_DOWN_IN_RECOVERY";
      DbState2[DbState2["SHUTTING_DOWN"] = 3] = "SHUTTING_DOWN";
      DbState2[DbState2["IN_CRASH_RECOVERY"] = 4] = "IN_CRASH_RECOVERY";
      DbState2[DbState2["IN_ARCHIVE_RECOVERY"] = 5] = "IN_ARCHIVE_RECOVERY";
      DbState2[DbState2["IN_PRODUCTION"] = 6] = "IN_PRODUCTION";
      return DbState2;
    })(DbState || {});
    KNOWN_CONTROL_VERSIONS = [1300, 1700];
    CRC32C_TABLE = Array.from({ length: 256 }, (_, byte) => {
      let crc = byte;
      for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? crc >>> 1 ^ 2197175160 : crc >>> 1;
      return crc >>> 0;
    });
    PROMOTION_LOOK_SQL = `SELECT pg_is_in_recovery() AS recovery, EXISTS (SELECT 1 FROM pg_stat_activity
  WHERE backend_type = 'startup' AND wait_event = 'RecoveryRetrieveRetryInterval') AS retrying`;
    CREDENTIALS_TIMEOUT_MS = 1e4;
    STREAMED_A_SECOND_SQL = `EXISTS (SELECT 1 FROM pg_stat_wal_receiver AS r JOIN pg_stat_activity AS a USING (pid)
  WHERE r.status = 'streaming' AND r.received_tli >= $1::int
    AND (a.backend_start < clock_timestamp() - interval '1 second' OR a.backend_start > clock_timestamp()))`;
    LocalPostgres = class {
      socketDir;
      port;
      user;
      queryTimeoutMs;
      connectTimeoutMs;
      applicationName;
      client;
      turn = Promise.resolve();
      constructor(options) {
        this.socketDir = options.socketDir;
        this.port = options.port;
        this.user = options.user;
        this.queryTimeoutMs = options.queryTimeoutMs;
        this.connectTimeoutMs = options.connectTimeoutMs ?? 3e3;
        this.applicationName = options.applicationName ?? "postgres-agent";
      }
      /** The timeline of the current WAL file, on a primary (role-labeler.sh local_timeline). */
      async timeline() {
        return this.session("reading the timeline", async (query) => {
          const rows = await query("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline");
          return rows[0].timeline;
        });
      }
      /** pg-node.sh's status query (node-status.ts STATUS_SQL): what a server that answers is, for the failover job. */
      async status() {
        return this.session("reading the status", async (query) => {
          const row = (await query(STATUS_SQL))[0];
          if (row === void 0) return void 0;
          return { role: row.role, lsn: row.lsn ?? "", receiver: row.receiver, timeline: Number(row.timeline) };
        });
      }
      /** The standbys streaming from this primary (pg_stat_replication): name, state and flushed position. */
      async standbys() {
        return this.session("listing the standbys", async (query) => {
          const rows = await query("SELECT application_name AS name, state, flush_lsn::text AS flush FROM pg_stat_replication");
          return rows.map((row) => ({ name: String(row.name), state: String(row.state), flushLsn: row.flush ?? void 0 }));
        });
      }
      /**
       * Whether the standby `name` (application_name) streams this primary's current timeline (sidecar.ts streamsTimeline),
       * asked every 20 ms until it does or timeoutMs have passed: a standby that has just connected, or is crossing from an
       * older timeline, streams within milliseconds. The timeline's switch point comes from its history file.
       */
      async awaitStandbyStream(name, timeoutMs) {
        return this.session(`waiting for ${name} to stream this primary's timeline`, async (query) => {
          const [{ file, history }] = await query(`SELECT file, CASE WHEN file <> '00000001.history' THEN pg_read_file('pg_wal/' || file) END AS history
        FROM (SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) || '.history' AS file) AS timeline`);
          const switchpoint = history === null ? void 0 : timelineSwitchpoint(history);
          if (history !== null && switchpoint === void 0) throw new Error(`pg_wal/${file} names no switch point`);
          const deadline = performance.now() + timeoutMs;
          for (; ; ) {
            const senders = await query("SELECT state, sent_lsn::text AS sent FROM pg_stat_replication WHERE application_name = $1", [name]);
            const streaming = senders.map((sender) => ({ state: String(sender.state), sent: sender.sent ?? void 0 }));
            if (streaming.some((sender) => streamsTimeline(sender, switchpoint))) return true;
            if (performance.now() >= deadline) return false;
            await sleep2(20);
          }
        });
      }
      async isInRecovery() {
        return this.session("asking whether the server is in recovery", async (query) => {
          return (await query("SELECT pg_is_in_recovery() AS recovery"))[0].recovery;
        });
      }
      /**
       * Promotes this replica (pg-node.sh promote): pg_promote(false), a look every 10 ms until it accepts writes (an
       * error after timeoutMs), then the physical slots of slotNames that do not exist yet, reserving WAL. A server that
       * is no longer in recovery is not promoted again: only its slots are made. Returns the slots created.
       */
      async promote(slotNames, timeoutMs) {
        return this.session("promoting", async (query) => {
          const signalled = await query("SELECT pg_promote(false) AS signalled WHERE pg_is_in_recovery()");
          if (signalled.length > 0) {
            if (signalled[0].signalled !== true) throw new Refusal("pg_promote() could not signal the postmaster");
            const deadline = performance.now() + timeoutMs;
            for (; ; ) {
              const [look] = await query(PROMOTION_LOOK_SQL);
              if (look.recovery !== true) break;
              if (performance.now() >= deadline) throw new Refusal(`promotion did not finish within ${timeoutMs / 1e3}s`);
              if (look.retrying === true) await query("SELECT pg_reload_conf()");
              await sleep2(10);
            }
          }
          return createMissingSlots(query, slotNames);
        });
      }
      /** A replica has received or replayed WAL beyond lsn (take_over_switchover): false on a primary. */
      async receivedBeyond(lsn) {
        return this.session(`comparing the received WAL with ${lsn}`, async (query) => {
          const rows = await query("SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > $1::pg_lsn AS beyond", [lsn]);
          return rows[0].beyond === true;
        });
      }
      /** The WAL receiver streams on this timeline (follow_new_primary). */
      async streamingOnTimeline(timeline) {
        return this.session(`asking whether the WAL receiver streams timeline ${timeline}`, async (query) => {
          const rows = await query("SELECT count(*)::int AS streaming FROM pg_stat_wal_receiver WHERE status = 'streaming' AND received_tli = $1", [timeline]);
          return rows[0].streaming > 0;
        });
      }
      /**
       * A replica's WAL receiver process, if one runs, connecting or streaming: found in pg_stat_activity, which lists it
       * from its start (pg_stat_wal_receiver shows no row until it has connected, and one whose connection attempt hangs on
       * a dead primary's address is the one to end).
       */
      async walReceiverPid() {
        const pid = await this.session(
          "finding the WAL receiver",
          async (query) => (await query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'walreceiver'"))[0]?.pid
        );
        return typeof pid === "number" ? pid : void 0;
      }
      /**
       * Ends a WAL receiver (walReceiverPid): SIGTERM, as the pod shares one process namespace (pg_terminate_backend cannot:
       * it is an auxiliary process). The startup process starts another, which connects anew. Gone already: nothing to do.
       */
      async endWalReceiver(pid) {
        try {
          process.kill(pid, "SIGTERM");
        } catch (error) {
          if (error.code !== "ESRCH") throw error;
        }
      }
      /** pg_reload_conf(): the configuration (and certificate) again; wakes a replica's startup process. */
      async reload() {
        await this.session("reloading the configuration", async (query) => {
          const rows = await query("SELECT pg_reload_conf() AS reloaded");
          if (rows[0].reloaded !== true) throw new Refusal("pg_reload_conf() could not signal the postmaster");
        });
      }
      /**
       * After a reload: the settings still waiting for a restart (pg_settings.pending_restart), and the lines of the
       * configuration files PostgreSQL refused (pg_file_settings.error; a changed setting that needs a restart is not one).
       */
      async reloadOutcome() {
        return this.session("reading the reloaded configuration", async (query) => {
          const pending = await query("SELECT lower(name) AS name FROM pg_settings WHERE pending_restart ORDER BY 1");
          const errors = await query("SELECT sourcefile, sourceline, lower(name) AS name, error FROM pg_file_settings WHERE error IS NOT NULL AND (name IS NULL OR lower(name) NOT IN (SELECT lower(name) FROM pg_settings WHERE pending_restart)) ORDER BY sourcefile, sourceline");
          return {
            pendingRestart: pending.map((row) => String(row.name)),
            errors: errors.map((row) => `${String(row.sourcefile)}:${String(row.sourceline)}: ${row.name === null ? "" : `${String(row.name)}: `}${String(row.error)}`)
          };
        });
      }
      /**
       * role-labeler.sh maintain_slots: the inactive physical slots whose names begin with prefix (slotOf(statefulSet) + '_')
       * that are not wanted, or whose WAL was removed (wal_status lost), are dropped; the wanted slots that are missing are
       * created, reserving WAL. An active slot is never dropped.
       */
      async maintainSlots(wanted, prefix) {
        return this.session("maintaining the replication slots", async (query) => {
          const stale = await query(`SELECT slot_name, wal_status = 'lost' AS lost FROM pg_replication_slots
        WHERE slot_type = 'physical' AND starts_with(slot_name, $1) AND NOT active AND (slot_name <> ALL ($2::text[]) OR wal_status = 'lost')
        ORDER BY slot_name`, [prefix, wanted]);
          const dropped = [];
          const failed = [];
          for (const row of stale) {
            const slot = row.slot_name;
            try {
              await query("SELECT pg_drop_replication_slot($1)", [slot]);
              dropped.push({ slot, why: row.lost === true ? "lost" : "unwanted" });
            } catch (error) {
              if (!isStatementError(error)) throw error;
              failed.push(`dropping ${slot}: ${error.message}`);
            }
          }
          const created = [];
          for (const slot of wanted) {
            try {
              created.push(...await createMissingSlots(query, [slot]));
            } catch (error) {
              if (!isStatementError(error)) throw error;
              failed.push(`creating ${slot}: ${error.message}`);
            }
          }
          return { dropped, created, failed };
        });
      }
      /** pg_current_wal_lsn() of a primary, as PostgreSQL prints it. */
      async currentWalLsn() {
        return this.session("reading the current WAL position", async (query) => {
          return (await query("SELECT pg_current_wal_lsn()::text AS lsn"))[0].lsn;
        });
      }
      /** How many of the named standbys (application_name) have flushed WAL up to lsn (maintain_sync_set's caught_up). */
      async standbysFlushedPast(names, lsn) {
        return this.session(`counting the standbys that flushed ${lsn}`, async (query) => {
          const rows = await query(`SELECT count(*)::int AS caught_up FROM pg_stat_replication
        WHERE application_name = ANY ($1::text[]) AND flush_lsn >= $2::pg_lsn`, [names, lsn]);
          return rows[0].caught_up;
        });
      }
      /**
       * The failsafe's question: do all these standbys stream from this primary now? It writes a WAL record (a logical
       * message outside any transaction: no commit, no wait for a synchronous standby) and waits up to timeoutMs for each to
       * reply having written it (pg_stat_replication: a reply sent after the message, its write position past it). A standby
       * that cannot reach this primary cannot reply.
       */
      async standbysAnswer(names, timeoutMs) {
        return this.session("asking the standbys to reply", async (query) => {
          const [ping] = await query(`SELECT clock_timestamp() AS at,
        pg_logical_emit_message(false, 'postgres-cluster-failsafe', '')::text AS lsn`);
          const deadline = performance.now() + timeoutMs;
          for (; ; ) {
            const rows = await query(
              `SELECT count(DISTINCT application_name)::int AS replied FROM pg_stat_replication
          WHERE application_name = ANY ($1::text[]) AND state = 'streaming' AND reply_time >= $2 AND write_lsn >= $3::pg_lsn`,
              [names, ping.at, ping.lsn]
            );
            if (rows[0].replied === names.length) return true;
            if (performance.now() >= deadline) return false;
            await sleep2(50);
          }
        });
      }
      /**
       * The WAL receiver has streamed for a second (common.sh STREAMED_A_SECOND_SQL), on `timeline` or a later one (1: any). A
       * receiver that cannot follow the primary's timeline, because that timeline forked off its own before the WAL it has,
       * restarts streaming its own timeline every wal_retrieve_retry_interval, and is "streaming" an instant each time (longer
       * on a slow disk): it does not stream the primary's timeline.
       */
      async streamedASecond(timeline = 1) {
        return this.session("asking whether the WAL receiver streams", async (query) => {
          return (await query(`SELECT ${STREAMED_A_SECOND_SQL} AS streamed`, [timeline]))[0].streamed;
        });
      }
      /** pg_stat_archiver's counters and the segments waiting to be archived (archive-watch.ts). */
      async archiverLook() {
        return this.session("reading pg_stat_archiver", async (query) => {
          const [row] = await query(`SELECT archived_count AS archived, failed_count AS failed, last_archived_wal, last_failed_wal,
        (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready')::int AS waiting FROM pg_stat_archiver`);
          return {
            archived: Number(row.archived),
            failed: Number(row.failed),
            lastArchivedWal: row.last_archived_wal ?? void 0,
            lastFailedWal: row.last_failed_wal ?? void 0,
            waiting: row.waiting
          };
        });
      }
      /** The timeline a replica's WAL receiver asks for (the one its startup process is on); undefined without a receiver. */
      async receiverTimeline() {
        return this.session("reading the WAL receiver's timeline", async (query) => {
          const rows = await query("SELECT received_tli AS timeline FROM pg_stat_wal_receiver WHERE received_tli > 0");
          return rows.length === 0 ? void 0 : Number(rows[0].timeline);
        });
      }
      /** The WAL a replica has received or replayed, whichever is further (check_replica_wal's pos); undefined on a primary. */
      async receivePosition() {
        return this.session("reading the received WAL position", async (query) => {
          const rows = await query("SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text AS position");
          return rows[0].position ?? void 0;
        });
      }
      /**
       * The roles and passwords as the Secrets say (common.sh credentials_sql), on the primary: the replication role
       * (created if missing) with pg_monitor, pg_rewind's file functions and, from PostgreSQL 15, pg_checkpoint; the
       * superuser's password; the application role and its database, which it owns. Idempotent. Its commits do not wait
       * for a synchronous standby. Names and passwords reach the SQL through format('%I', '%L') of bound parameters.
       */
      async applyCredentials(credentials) {
        const appUser = credentials.appUser ?? "";
        if (appUser !== "" && credentials.appPassword === void 0) throw new Error(`applying the credentials: no password for the application role ${appUser}`);
        await this.session("applying the credentials", async (query) => {
          const generated = async (sql, params) => {
            for (const row of await query(sql, params)) await query(row.statement, void 0, CREDENTIALS_TIMEOUT_MS);
          };
          const superuser = credentials.superuser;
          const repl = credentials.replicationUser;
          const reset = "RESET client_min_messages; RESET synchronous_commit; RESET statement_timeout";
          await query(`SET client_min_messages = warning; SET synchronous_commit = local; SET statement_timeout = ${CREDENTIALS_TIMEOUT_MS}`);
          try {
            await generated(`SELECT format('CREATE ROLE %I WITH REPLICATION LOGIN', $1::text) AS statement
          WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text)`, [repl]);
            await generated("SELECT format('ALTER ROLE %I WITH REPLICATION LOGIN PASSWORD %L', $1::text, $2::text) AS statement", [repl, credentials.replicationPassword]);
            await generated("SELECT format('ALTER ROLE %I WITH PASSWORD %L', $1::text, $2::text) AS statement", [superuser, credentials.superuserPassword]);
            for (const grant of [
              "GRANT pg_monitor TO %I",
              "GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO %I",
              "GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO %I",
              "GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO %I",
              "GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO %I"
            ]) {
              await generated("SELECT format($1::text, $2::text) AS statement", [grant, repl]);
            }
            await generated(`SELECT format('GRANT pg_checkpoint TO %I', $1::text) AS statement
          WHERE current_setting('server_version_num')::int >= 150000`, [repl]);
            if (appUser !== "") {
              const database = credentials.appDatabase;
              await generated(`SELECT format('CREATE ROLE %I WITH LOGIN', $1::text) AS statement
            WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text)`, [appUser]);
              await generated("SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text) AS statement", [appUser, credentials.appPassword]);
              await generated(`SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text) AS statement
            WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1::text)`, [database, appUser]);
              await generated(`SELECT format('ALTER DATABASE %I OWNER TO %I', $1::text, $2::text) AS statement FROM pg_database
            WHERE datname = $1::text AND datdba = (SELECT oid FROM pg_roles WHERE rolname = $3::text)`, [database, appUser, superuser]);
            }
          } catch (error) {
            await query(reset).catch(() => void 0);
            throw error;
          }
          await query(reset);
        });
      }
      /** Ends the kept connection, if any. */
      async close() {
        await this.exclusive(async () => {
          const client = this.client;
          this.client = void 0;
          if (client !== void 0) await endClient(client, 1e3);
        });
      }
      /** Runs fn with the kept connection (connecting first if there is none), after the calls before it. */
      async session(what, fn) {
        return this.exclusive(async () => {
          let client;
          try {
            client = await this.connection();
          } catch (error) {
            throw new Error(`${what}: cannot connect to PostgreSQL at ${this.socketDir}:${this.port}: ${error.message}`);
          }
          const query = async (text, values, timeoutMs) => {
            const config = Object.assign({ text, values }, timeoutMs === void 0 ? {} : { query_timeout: timeoutMs + 1e3 });
            return (await client.query(config)).rows;
          };
          try {
            return await fn(query);
          } catch (error) {
            if (!isStatementError(error)) this.drop(client);
            throw new Error(`${what}: ${error.message}`);
          }
        });
      }
      async exclusive(fn) {
        const result = this.turn.then(fn);
        this.turn = result.catch(() => void 0);
        return result;
      }
      async connection() {
        if (this.client !== void 0) return this.client;
        const config = {
          host: this.socketDir,
          port: this.port,
          user: this.user,
          database: "postgres",
          application_name: this.applicationName,
          connectionTimeoutMillis: this.connectTimeoutMs,
          statement_timeout: this.queryTimeoutMs,
          // The server ends a statement first; the client gives up on a server that does not answer at all.
          query_timeout: this.queryTimeoutMs + 1e3
        };
        const client = new Client(config);
        client.on("error", () => this.drop(client));
        client.on("end", () => this.drop(client));
        try {
          await client.connect();
        } catch (error) {
          destroyClient(client);
          throw error;
        }
        this.client = client;
        return client;
      }
      drop(client) {
        if (this.client === client) this.client = void 0;
        destroyClient(client);
      }
    };
    Refusal = class extends Error {
    };
  }
});

// src/agent/archive-watch.ts
function archiveFails(look) {
  return look.lastFailedWal !== void 0 && (look.lastArchivedWal === void 0 || look.lastFailedWal > look.lastArchivedWal);
}
function decideArchive(watch2, look, now, pod) {
  const last = watch2.last !== void 0 && look.archived >= watch2.last.archived && look.failed >= watch2.last.failed ? watch2.last : void 0;
  const since = last === void 0 ? "since the statistics began" : "since the last look";
  const failures = look.failed - (last?.failed ?? 0);
  const archived = look.archived - (last?.archived ?? 0);
  if (!archiveFails(look)) {
    if (watch2.failing === void 0) return { watch: { last: look, failing: void 0 } };
    return {
      watch: { last: look, failing: void 0 },
      event: {
        type: "Normal",
        reason: "ArchiveRecovered",
        message: `archiving WAL works again after ${Math.round(now - watch2.failing.since)}s: ${plural(archived, "segment", "segments")} archived ${since}, ${look.waiting} waiting`
      }
    };
  }
  if (watch2.failing !== void 0 && now - watch2.failing.warnedAt < ARCHIVE_REWARN_SECONDS) return { watch: { last: look, failing: watch2.failing } };
  const began = watch2.failing?.since ?? now;
  return {
    watch: { last: look, failing: { since: began, warnedAt: now } },
    event: {
      type: "Warning",
      reason: "ArchiveFailing",
      message: `archiving WAL fails${watch2.failing === void 0 ? "" : ` for ${Math.round(now - began)}s`}: ${look.lastFailedWal} is not archived (${plural(failures, "failed try", "failed tries")} and ${plural(archived, "segment", "segments")} archived ${since}). ${plural(look.waiting, "segment waits", "segments wait")} in pg_wal, which keeps them until they are archived and fills meanwhile. The archive command's error: kubectl logs ${pod} -c postgres`
    }
  };
}
var ARCHIVE_LOOK_SECONDS, ARCHIVE_REWARN_SECONDS, NO_ARCHIVE_WATCH, plural;
var init_archive_watch = __esm({
  "src/agent/archive-watch.ts"() {
    "use strict";
    ARCHIVE_LOOK_SECONDS = 10;
    ARCHIVE_REWARN_SECONDS = 600;
    NO_ARCHIVE_WATCH = { last: void 0, failing: void 0 };
    plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  }
});

// src/agent/configuration.ts
function confSettings(text) {
  const settings = /* @__PURE__ */ new Map();
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*('(?:[^'\\]|\\.|'')*'|[^\s#]*)/.exec(line);
    if (match === null) continue;
    const raw = match[2];
    const value = raw.startsWith("'") ? raw.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, "$1") : raw;
    settings.set(match[1].toLowerCase(), value);
  }
  return settings;
}
function configuredHotStandby(conf, auto) {
  if (conf === void 0) return void 0;
  const set = new Map([...confSettings(conf), ...confSettings(auto ?? "")]);
  const values = {};
  for (const name of HOT_STANDBY_SETTINGS) {
    const value = set.get(name);
    if (value !== void 0 && !/^\d+$/.test(value)) return void 0;
    values[name] = value === void 0 ? HOT_STANDBY_DEFAULTS[name] : Number(value);
  }
  return values;
}
function changedSettings(before, after) {
  const old = confSettings(before);
  const next = confSettings(after);
  return [.../* @__PURE__ */ new Set([...old.keys(), ...next.keys()])].sort().filter((name) => old.get(name) !== next.get(name)).map((name) => ({ name, from: old.get(name), to: next.get(name) }));
}
function reloadReport(changes, hbaChanged, outcome) {
  const pending = new Set(outcome.pendingRestart);
  const applied = changes.filter((change) => !pending.has(change.name));
  const waiting = changes.filter((change) => pending.has(change.name));
  const describe2 = (list) => list.map((change) => `${change.name} ${shown(change.from)} -> ${shown(change.to)}`).join(", ");
  const parts = [
    ...applied.length > 0 ? [`in effect now: ${describe2(applied)}`] : [],
    ...hbaChanged ? ["pg_hba.conf in effect now"] : [],
    ...waiting.length > 0 ? [`at the next restart (the StatefulSet rolls the pods when a setting that needs one changes: one switchover): ${describe2(waiting)}`] : [],
    ...pending.size > waiting.length ? [`also waiting for a restart: ${outcome.pendingRestart.filter((name) => !waiting.some((change) => change.name === name)).join(", ")}`] : []
  ];
  if (outcome.errors.length > 0) {
    return {
      type: "Warning",
      reason: "ConfigurationRefused",
      message: `the configuration changed and PostgreSQL reloaded it, but refused ${outcome.errors.join("; ")}: those lines keep their old values${parts.length > 0 ? `; ${parts.join("; ")}` : ""}`
    };
  }
  return {
    type: "Normal",
    reason: "ConfigurationReloaded",
    message: `the configuration changed: PostgreSQL reloaded it; ${parts.length > 0 ? parts.join("; ") : "no setting changed"}`
  };
}
var HOT_STANDBY_DEFAULTS, shown;
var init_configuration = __esm({
  "src/agent/configuration.ts"() {
    "use strict";
    init_start();
    HOT_STANDBY_DEFAULTS = {
      max_connections: 100,
      max_worker_processes: 8,
      max_wal_senders: 10,
      max_prepared_transactions: 0,
      max_locks_per_transaction: 64
    };
    shown = (value) => value === void 0 ? "(unset)" : JSON.stringify(value);
  }
});

// src/agent/failsafe.ts
function fenceDeadline(uptime, seconds) {
  return Math.floor(uptime * 100) + seconds * 100;
}
function failsafeHolds(sinceHeld) {
  return sinceHeld < FAILSAFE_HOLDS_SECONDS;
}
function failsafeDue(facts) {
  return facts.named && facts.othersKnown && facts.sinceConfirmed >= facts.overdueAfter;
}
function decideFailsafe(facts) {
  if (!facts.held || facts.confirmedMeanwhile || !facts.stillNamed) return { hold: false };
  const say = !failsafeHolds(facts.sinceHeld);
  if (facts.automaticFailover) return { hold: true, deadline: fenceDeadline(facts.askedUptime, facts.renewDeadlineSeconds), say };
  const deadline = fenceDeadline(facts.askedUptime, FAILSAFE_FENCE_SECONDS);
  return { hold: true, deadline: deadline > facts.deadlineWritten ? deadline : void 0, say };
}
var FAILSAFE_FENCE_SECONDS, FAILSAFE_HOLDS_SECONDS;
var init_failsafe = __esm({
  "src/agent/failsafe.ts"() {
    "use strict";
    FAILSAFE_FENCE_SECONDS = 3;
    FAILSAFE_HOLDS_SECONDS = 2;
  }
});

// src/agent/follow.ts
function decideFollow(facts) {
  if (facts.streaming === true) return { end: void 0, reload: false, seen: void 0, following: false };
  if (facts.streaming === void 0) return { end: void 0, reload: false, seen: facts.seen, following: true };
  if (facts.changed) return { end: facts.receiver, reload: true, seen: void 0, following: true };
  if (facts.receiver === void 0) return { end: void 0, reload: false, seen: void 0, following: true };
  if (facts.seen?.pid !== facts.receiver) return { end: void 0, reload: false, seen: { pid: facts.receiver, since: facts.now }, following: true };
  if (facts.now - facts.seen.since >= FOLLOW_HANG_SECONDS) return { end: facts.receiver, reload: false, seen: void 0, following: true };
  return { end: void 0, reload: false, seen: facts.seen, following: true };
}
function decideStaleSender(facts) {
  if (facts.streams !== false || facts.sender === void 0 || facts.sender === null) return { end: void 0, seen: void 0 };
  if (facts.seen === facts.sender) return { end: facts.sender, seen: void 0 };
  return { end: void 0, seen: facts.sender };
}
function countedTimeline(record) {
  return record?.state === "stable" ? record.timeline : 1;
}
function recloneReason(facts) {
  if (facts.primaryLacksWal === true) return `the primary no longer has the WAL this replica needs (${facts.position})`;
  const { receiverTimeline: timeline, history } = facts;
  if (timeline === void 0 || history === void 0 || !forkedBehind(history, timeline, facts.position)) return void 0;
  return `timeline ${facts.recordTimeline} of the primary forked off this replica's timeline ${timeline} at ${switchpointOf(history, timeline)}, before the WAL this replica has (${facts.position}): it can never follow`;
}
var FOLLOW_HANG_SECONDS;
var init_follow = __esm({
  "src/agent/follow.ts"() {
    "use strict";
    init_failover_target();
    FOLLOW_HANG_SECONDS = 3;
  }
});

// src/agent/handover.ts
function rankStandbys(standbys, pods, ready = false) {
  const staying2 = new Set(pods.filter((pod) => !pod.terminating && (pod.ready || !ready)).map((pod) => pod.name));
  const positioned = (standby) => parseLsn(String(standby.flushLsn)) !== void 0;
  return standbys.filter((standby) => standby.state === "streaming" && staying2.has(standby.name) && positioned(standby)).sort((a, b) => {
    const diff = parseLsn(b.flushLsn) - parseLsn(a.flushLsn);
    return diff > 0n ? 1 : diff < 0n ? -1 : a.name.localeCompare(b.name);
  });
}
function decideRequestedSwitchover(facts) {
  const record = facts.record;
  if (record?.state !== "stable" || record.primary !== facts.podName || !facts.serving) return { kind: "ignore" };
  const asked = facts.request.trim();
  if (facts.failoverRequestEpoch !== void 0 && facts.failoverRequestEpoch < record.epoch) {
    return {
      kind: "drop",
      reason: `removing the failover request (${asked}) made before this pod became the primary (epoch ${facts.failoverRequestEpoch}, now ${record.epoch}): the change of primary answered it`
    };
  }
  if (asked === facts.podName) return { kind: "refuse", reason: `switchover to ${asked} requested: it is the primary already` };
  if (facts.pods === void 0) return { kind: "ignore" };
  const ranked = rankStandbys(facts.standbys, facts.pods);
  const chosen = asked === "any" ? ranked[0] : ranked.find((standby) => standby.name === asked);
  if (chosen === void 0) {
    return {
      kind: "refuse",
      reason: `switchover to ${asked || "(nothing)"} requested: ${asked === "any" ? "no standby streams" : `${asked} does not stream`} from the primary ${facts.podName} (standbys that may take over: ${ranked.map((standby) => standby.name).join(", ") || "none"}); the primary stays`
    };
  }
  const next = beginSwitchover(record, { previous: facts.podName, target: chosen.name, job: facts.podName });
  return {
    kind: "hand-over",
    target: chosen.name,
    record: next,
    reason: `switchover to ${asked} requested on the record: handing the primary over to ${chosen.name} (flushed ${chosen.flushLsn}), by a switchover (${describeRecord(next)})`
  };
}
function decideHandover(facts) {
  const record = facts.record;
  if (facts.podTerminating !== true) {
    const reason = facts.podTerminating === void 0 ? "stopping: the API did not say whether this pod is being deleted, so the primary stays where it is" : "stopping, but the pod is not being deleted (a restart): the primary stays where it is";
    return { kind: "stop", reason };
  }
  if (record?.state !== "stable" || record.primary !== facts.podName || !facts.primaryData) {
    return { kind: "stop", reason: `this pod is being deleted; it is not the primary the record names (${describeRecord(record)}): nothing to hand over` };
  }
  if (facts.pods === void 0) {
    return { kind: "stop", reason: "this primary's pod is being deleted, but the cluster's pods cannot be listed: no handover (run the failover job)" };
  }
  const candidates = rankStandbys(facts.standbys, facts.pods, true);
  if (candidates.length === 0) {
    return { kind: "stop", reason: "this primary's pod is being deleted, and no standby that stays streams from it: no handover (run the failover job)" };
  }
  const revisionOf = (name) => facts.pods.find((pod) => pod.name === name)?.labels?.[REVISION_LABEL];
  const mine = revisionOf(facts.podName);
  const updated = mine === void 0 ? [] : candidates.filter((standby) => {
    const revision = revisionOf(standby.name);
    return revision !== void 0 && revision !== mine;
  });
  const chosen = updated[0] ?? candidates[0];
  const target = chosen.name;
  const next = beginSwitchover(record, { previous: facts.podName, target, job: facts.podName });
  const which = updated.length > 0 ? `the most advanced standby that stays and runs the pod template's new revision (${revisionOf(target)}; this pod's: ${mine})` : "the most advanced standby that stays";
  return {
    kind: "hand-over",
    target,
    record: next,
    reason: `this primary's pod is being deleted: handing the primary over to ${target}, ${which} (flushed ${chosen.flushLsn}), by a switchover (${describeRecord(next)})`
  };
}
function decideHandoverWait(facts) {
  const record = facts.record;
  if (record?.state === "stable" && record.primary === facts.target) return { kind: "done", reason: `handed over: ${describeRecord(record)}` };
  if (record?.state !== "switching-over" || record.job !== facts.podName || record.target !== facts.target) {
    return { kind: "done", reason: `the handover was taken over by someone else (${describeRecord(record)})` };
  }
  const pod = facts.targetPod;
  const going = pod === null ? "is gone" : pod === void 0 ? void 0 : pod.terminating ? "is being deleted too" : facts.targetUid !== void 0 && pod.uid !== void 0 && pod.uid !== facts.targetUid ? "is gone (a new pod has its name)" : void 0;
  if (going === void 0) return { kind: "wait" };
  const next = giveBack(record);
  return {
    kind: "give-back",
    record: next,
    reason: `the handover's target ${facts.target} ${going} before it took over: the record names this pod again, which is the primary when it is made anew (${describeRecord(next)})`
  };
}
var REVISION_LABEL, SWITCHOVER_REQUEST;
var init_handover = __esm({
  "src/agent/handover.ts"() {
    "use strict";
    init_failover_target();
    init_record();
    init_transitions();
    REVISION_LABEL = "controller-revision-hash";
    SWITCHOVER_REQUEST = "switchover.postgres.cdk8s.io/target";
  }
});

// src/agent/label.ts
function decideLabel(facts) {
  const changed = facts.wanted === facts.applied && facts.seen !== void 0 && facts.seen !== facts.wanted;
  if (changed && facts.wanted === "primary") {
    if (facts.othersPrimary.length > 0) {
      const waiting = `the ${facts.labelKey} label was moved by hand to ${facts.othersPrimary.join(", ")}: waiting until its sidecar removes it`;
      return { do: "wait", waiting, say: waiting !== facts.waiting, changedSeenAt: facts.changedSeenAt };
    }
    const since = facts.changedSeenAt ?? facts.now;
    if (facts.now - since < LABEL_RESTORE_SECONDS) return { do: "wait", waiting: "", say: false, changedSeenAt: since };
  }
  if (!changed && facts.wanted === facts.applied && facts.now - facts.appliedAt < facts.reassertSeconds) return { do: "keep" };
  return { do: "set", restore: changed };
}
var LABEL_RESTORE_SECONDS;
var init_label = __esm({
  "src/agent/label.ts"() {
    "use strict";
    LABEL_RESTORE_SECONDS = 0.9;
  }
});

// src/agent/roll.ts
function decideRoll(facts) {
  const revision = facts.updateRevision;
  if (revision === void 0) return { kind: "none", reason: "the StatefulSet has no update revision yet: nothing to roll" };
  const stale = facts.pods.filter((pod) => pod.labels?.[REVISION_LABEL] !== revision);
  if (stale.length === 0) return { kind: "none", reason: `every pod runs the pod template's revision ${revision}` };
  const updated = `${facts.pods.length - stale.length} of ${facts.pods.length} pods run it`;
  const wait = (why) => {
    const reason = `rolling update to revision ${revision} (${updated}): waiting, ${why}`;
    return { kind: "wait", reason, stalled: facts.lastWait?.reason === reason && facts.lastWait.seconds >= ROLL_STALL_SECONDS };
  };
  if (facts.paused) {
    return { kind: "wait", reason: `rolling update to revision ${revision} (${updated}): paused (${ROLL_PAUSE_ANNOTATION}=true on the record)`, stalled: false };
  }
  const terminating = facts.pods.find((pod) => pod.terminating);
  if (terminating !== void 0) return wait(`${terminating.name} is being deleted`);
  const unready = [...facts.pods].sort((a, b) => ordinalOf(a.name) - ordinalOf(b.name)).find((pod) => !pod.ready);
  if (unready !== void 0) return wait(`${unready.name} is not Ready (a replica is Ready once it streams)`);
  if (facts.pods.length !== facts.replicas) return wait(`the StatefulSet has ${facts.pods.length} pods of ${facts.replicas}`);
  const replica = stale.filter((pod) => pod.name !== facts.podName).sort((a, b) => ordinalOf(b.name) - ordinalOf(a.name))[0];
  if (replica !== void 0) {
    return {
      kind: "delete",
      pod: replica.name,
      uid: replica.uid,
      reason: `rolling update to revision ${revision} (${updated}): deleting replica ${replica.name} (revision ${replica.labels?.[REVISION_LABEL] ?? "none"}); the StatefulSet makes it anew from the new template`
    };
  }
  if (facts.pods.length === 1) {
    return {
      kind: "delete",
      pod: facts.podName,
      uid: facts.pods[0].uid,
      reason: `rolling update to revision ${revision}: this primary is the only pod, so it restarts in place (writes stop until it is back)`
    };
  }
  const target = rankStandbys(facts.standbys, facts.pods)[0];
  if (target === void 0) return wait(`no replica of the new revision streams from the primary ${facts.podName}`);
  const next = beginSwitchover(facts.record, { previous: facts.podName, target: target.name, job: facts.podName });
  return {
    kind: "switch-over",
    target: target.name,
    record: next,
    reason: `rolling update to revision ${revision} (${updated}, every replica): switching over to ${target.name}, the most advanced standby of the new revision (flushed ${target.flushLsn}), before this primary's pod is updated (${describeRecord(next)})`
  };
}
var ROLL_PAUSE_ANNOTATION, ROLL_STALL_SECONDS;
var init_roll = __esm({
  "src/agent/roll.ts"() {
    "use strict";
    init_failover_target();
    init_handover();
    init_record();
    init_transitions();
    ROLL_PAUSE_ANNOTATION = "rollout.postgres.cdk8s.io/paused";
    ROLL_STALL_SECONDS = 60;
  }
});

// src/agent/start-agent.ts
function parseStartRequest(text) {
  const id = text.trim();
  return /^[A-Za-z0-9.-]{1,64}$/.test(id) ? id : void 0;
}
function highestHistory(pgdata) {
  return Math.max(0, ...entriesOf(path2.join(pgdata, "pg_wal")).filter((name) => /^[0-9A-F]{8}\.history$/.test(name)).map((name) => parseInt(name.slice(0, 8), 16)));
}
function entriesOf(dir) {
  try {
    return fs4.readdirSync(dir);
  } catch {
    return [];
  }
}
function nonEmptyFile(file) {
  return (fs4.statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 0;
}
function dataDirectoryOf(pgdata) {
  if (!nonEmptyFile(path2.join(pgdata, "PG_VERSION"))) {
    return entriesOf(pgdata).length === 0 ? { kind: "empty" } : { kind: "not-a-data-directory" };
  }
  const version = fs4.readFileSync(path2.join(pgdata, "PG_VERSION"), "utf8").trim();
  const read = readControlFile(pgdata);
  if (read.kind !== "read") return { kind: "unreadable", reason: read.reason, version };
  const state = read.control.state;
  return {
    kind: "data",
    version,
    systemIdentifier: read.control.systemIdentifier,
    timeline: Math.max(read.control.timeline, highestHistory(pgdata)),
    standbySignal: fs4.existsSync(path2.join(pgdata, "standby.signal")),
    shutDownCleanly: state === 1 /* SHUT_DOWN */ || state === 2 /* SHUT_DOWN_IN_RECOVERY */,
    recoveryState: state === 2 /* SHUT_DOWN_IN_RECOVERY */ || state === 5 /* IN_ARCHIVE_RECOVERY */,
    initializedByEntrypoint: fs4.existsSync(path2.join(pgdata, INIT_MARKER)),
    hotStandby: read.control.hotStandby
  };
}
async function startPlanOf(inputs) {
  const data = dataDirectoryOf(inputs.pgdata);
  const known = { podName: inputs.podName, record: inputs.record, data };
  const record = inputs.record.kind === "read" ? inputs.record.record : void 0;
  const answer = asksRecordedPrimary(known) && record?.state === "stable" ? await inputs.ask(record.primary) : void 0;
  const facts = {
    ...known,
    recloneRequested: fs4.existsSync(path2.join(path2.dirname(inputs.pgdata), RECLONE_MARKER)),
    restoreFrom: inputs.restoreFrom,
    syncReplicas: inputs.syncReplicas,
    postgresVersion: inputs.postgresVersion,
    configured: configuredHotStandby(readIfExists(path2.join(inputs.configDir, "postgresql.conf")), readIfExists(path2.join(inputs.pgdata, "postgresql.auto.conf"))),
    recordedPrimaryAnswers: answer !== void 0,
    recordedPrimaryTimeline: answer?.role === "primary" ? answer.timeline : void 0
  };
  return decideStart(facts);
}
function readIfExists(file) {
  try {
    return fs4.readFileSync(file, "utf8");
  } catch {
    return void 0;
  }
}
function writeStartPlan(file, request3, plan3) {
  fs4.writeFileSync(`${file}.new`, startPlanText(request3, plan3));
  fs4.renameSync(`${file}.new`, file);
}
var fs4, path2, INIT_MARKER, RECLONE_MARKER;
var init_start_agent = __esm({
  "src/agent/start-agent.ts"() {
    "use strict";
    fs4 = __toESM(require("fs"));
    path2 = __toESM(require("path"));
    init_configuration();
    init_postgres();
    init_start();
    INIT_MARKER = "initialized-by-entrypoint";
    RECLONE_MARKER = "reclone-requested";
  }
});

// src/agent/sidecar-agent.ts
var sidecar_agent_exports = {};
__export(sidecar_agent_exports, {
  SidecarAgent: () => SidecarAgent,
  nodeStatus: () => nodeStatus,
  parseEventLine: () => parseEventLine,
  passfileField: () => passfileField,
  passfileText: () => passfileText,
  recordCopyText: () => recordCopyText
});
function removeIfThere(file) {
  fs5.rmSync(file, { force: true });
}
async function nodeStatus(config) {
  const initialized = (readIfExists(path3.join(config.pgdata, "PG_VERSION")) ?? "").trim() !== "";
  const running = readPostmaster(config.pgdata)?.alive === true;
  const control = controlOf(config.pgdata);
  let answer;
  if (running && initialized) {
    const pg2 = new LocalPostgres({ socketDir: config.socketDir, port: config.port, user: config.users.superuser, queryTimeoutMs: 3e3 });
    answer = await pg2.status().catch(() => void 0);
    await pg2.close();
  }
  return statusLine({ initialized, running, control, answer }, true);
}
function passfileField(value) {
  return value.replace(/\\/g, "\\\\").replace(/:/g, "\\:");
}
function passfileText(replicationUser, replicationPassword, superuser, superuserPassword) {
  return `*:*:*:${passfileField(replicationUser)}:${passfileField(replicationPassword)}
*:*:*:${passfileField(superuser)}:${passfileField(superuserPassword)}
`;
}
function recordCopyText(record) {
  const annotations = record === void 0 ? {} : encodeAnnotations(record);
  const lines = [`found=${record === void 0 ? "no" : "yes"}`];
  for (const field of RECORD_FIELDS) lines.push(`${field}=${annotations[`${RECORD_PREFIX}/${field}`] ?? ""}`);
  return lines.join("\n");
}
function parseEventLine(text) {
  const match = /^(Normal|Warning) ([A-Z][A-Za-z]*) (\S.*)/s.exec(text);
  return match === null ? void 0 : { type: match[1], reason: match[2], message: match[3] };
}
var fs5, path3, AGENT_COMPONENT, NEVER, SHUTDOWN_TIMEOUT_MS, PROMOTE_TIMEOUT_MS, TARGET_STREAM_WAIT_MS, RECORD_COPY_SECONDS, HANDOVER_SECONDS, HANDOVER_LOOK_SECONDS, FAILSAFE_REPLY_MS, FAILSAFE_EVERY_MS, FOLLOW_LOOK_SECONDS, ROLL_LOOK_SECONDS, ROLL_IDLE_SECONDS, PEER_CONNECT_MS, RELOAD_SETTLE_MS, WAL_CHECK_EVERY_SECONDS, START_HOLD_SECONDS, DELIVERY_FRESH_SECONDS, DELIVERIES_KEPT, SidecarAgent;
var init_sidecar_agent = __esm({
  "src/agent/sidecar-agent.ts"() {
    "use strict";
    fs5 = __toESM(require("fs"));
    path3 = __toESM(require("path"));
    init_archive_watch();
    init_automatic_failover();
    init_configuration();
    init_failover_target();
    init_failsafe();
    init_follow();
    init_handover();
    init_kube();
    init_label();
    init_node_status();
    init_postgres();
    init_record();
    init_roll();
    init_sidecar();
    init_start();
    init_start_agent();
    init_transitions();
    AGENT_COMPONENT = "postgres-cluster-agent";
    NEVER = -Infinity;
    SHUTDOWN_TIMEOUT_MS = 6e4;
    PROMOTE_TIMEOUT_MS = 6e4;
    TARGET_STREAM_WAIT_MS = 2e3;
    RECORD_COPY_SECONDS = 2;
    HANDOVER_SECONDS = 20;
    HANDOVER_LOOK_SECONDS = 0.25;
    FAILSAFE_REPLY_MS = 1e3;
    FAILSAFE_EVERY_MS = 500;
    FOLLOW_LOOK_SECONDS = 1;
    ROLL_LOOK_SECONDS = 1;
    ROLL_IDLE_SECONDS = 5;
    PEER_CONNECT_MS = 500;
    RELOAD_SETTLE_MS = 200;
    WAL_CHECK_EVERY_SECONDS = 3;
    START_HOLD_SECONDS = 2;
    DELIVERY_FRESH_SECONDS = 1;
    DELIVERIES_KEPT = 16;
    SidecarAgent = class {
      constructor(config, podName, kube, env) {
        this.config = config;
        this.podName = podName;
        this.kube = kube;
        this.env = env;
        this.lastRead = env.monotonic();
        this.lastStreaming = env.monotonic();
        this.leaseChangedAt = env.monotonic();
        this.requestSeenAt = env.monotonic();
        this.servingAt = env.monotonic();
        this.pg = new LocalPostgres({ socketDir: config.socketDir, port: config.port, user: config.users.superuser, queryTimeoutMs: 5e3 });
      }
      config;
      podName;
      kube;
      env;
      record;
      resourceVersion = "";
      recordError = "";
      apiUp = true;
      lastRead;
      /** The plan's reason as last logged; undefined: none yet. */
      lastReason;
      /** Events sent during this round (report), answered by its end. */
      reports = [];
      /** The leases the record's watch delivered, in its order (the last DELIVERIES_KEPT), each with the wall time it came. */
      delivered = [];
      server = "not-serving";
      passwords;
      passfileWritten = "";
      credentialsApplied = "";
      /** What PostgreSQL reads again on a reload as this agent last read it, by path: the certificate, the configuration's directory. */
      filesSeen = /* @__PURE__ */ new Map();
      /** The record copy's text as last written; undefined: none yet. */
      recordCopy;
      recordCopyWrittenAt = NEVER;
      recordWanted = true;
      /** The entrypoint's request for a start plan (its id), not answered yet, and when (monotonic) this agent took it. */
      startRequest;
      startRequestAt = NEVER;
      /** The record could be read but not decoded (a malformed record), as read last. */
      recordMalformed = false;
      /** The label as last applied: undefined before the first (unknown), '' for none. */
      applied;
      appliedAt = 0;
      lastOthers;
      lastMaintained = NEVER;
      goneAt = /* @__PURE__ */ new Map();
      /** The epoch and timeline (`<epoch>/<timeline>`) followNewPrimary last got an answer for; undefined: none yet. */
      followed;
      /** When (monotonic) followNewPrimary last looked whether this replica streams on the record's timeline. */
      followLookedAt = NEVER;
      /** It did not: the nap ends in time for the next look (FOLLOW_LOOK_SECONDS). */
      following = false;
      /** The WAL receiver as first seen not streaming (decideFollow). */
      receiverSeen;
      /** Continuous archiving as last looked at (decideArchive), and when. */
      archiveWatch = NO_ARCHIVE_WATCH;
      archiveLookedAt = NEVER;
      /** The primary's walsender first seen holding this replica's slot while it did not stream (decideStaleSender). */
      senderSeen;
      /** The look for a stale walsender under way (endStaleSender), if one is. */
      staleSenderLook;
      lastStreaming;
      lastWalCheck = NEVER;
      soon = false;
      /** This pod's role label as the API listed it last this round ('' for none), undefined when not listed since it was set. */
      labelSeen;
      /** The other pods labelled primary, as listed last. */
      othersLabeled = [];
      lastLabelWait = "";
      /** When this primary's label was first seen changed by someone else (it is set back LABEL_RESTORE_SECONDS later). */
      labelChangedSeenAt;
      /** A switchover asked for on the record's Lease (its SWITCHOVER_REQUEST annotation), as read last. */
      switchoverRequest;
      /** The standbys streaming from this primary, as last seen (maintainPrimary). */
      standbys = [];
      wake;
      pg;
      /** The lease part of the record's Lease, as read last. */
      lease = NO_LEASE;
      /** leaseKey as last seen, and when (monotonic) it last changed. */
      leaseKeySeen = "";
      leaseChangedAt;
      /** The failover request with the record as last seen (FAILOVER_REQUEST and leaseKey; '' for none), and since when (monotonic). */
      requestKeySeen = "";
      requestSeenAt;
      /** The failover request as last seen, and the record's epoch when this agent first saw it. */
      requestSeen;
      requestEpoch;
      /** The record's epoch as last seen, and when it last changed (a new primary); NEVER: not since this agent started. */
      epochSeen;
      epochChangedAt = NEVER;
      /** When (monotonic) this agent's last successful renewal began; NEVER: none yet. */
      renewedAt = NEVER;
      /** When this pod's PostgreSQL was last seen serving (as a primary or a replica); the agent's start until it is. */
      servingAt;
      lastRenewProblem = "";
      /** The takeover's reason as last logged; undefined: none yet. */
      lastTakeoverReason;
      /** The cluster's other pods as the API listed them last (the failsafe asks whether each streams from this primary). */
      knownOthers;
      /** When (monotonic) each pod last answered this replica, as a candidate, that it serves as a primary. */
      primaryAnsweredAt = /* @__PURE__ */ new Map();
      /** When (monotonic) the failsafe last found every other pod replying (failsafeLoop). */
      failsafeHeldAt = NEVER;
      /** The heartbeat fence's deadline as last written (uptime, hundredths of a second); NEVER: none. */
      deadlineWritten = NEVER;
      /** When (monotonic) this primary last looked at the rolling update, and whether pods of an older revision were left then. */
      rollLookedAt = NEVER;
      rolling = false;
      /** The rolling update's wait as last decided, and since when (monotonic); the reason a stall was last reported for. */
      rollWait;
      rollStallReported;
      /** ROLL_PAUSE_ANNOTATION on the record's Lease, as read last. */
      rollPaused = false;
      /** The rolling update's reason as last logged; undefined: none yet. */
      lastRollReason;
      log(message) {
        this.env.log(message);
      }
      /** Rounds until `signal` aborts; then the label goes (the write Service follows the label alone). */
      async run(signal) {
        this.log(`watching ${this.config.pgdata} and leader record ${this.config.leaderRecord}; label "${this.config.roleLabel}"`);
        const watching = followLease(this.kube, this.config.leaderRecord, (lease) => {
          this.deliver(lease);
          if (this.wake !== void 0) this.wake();
          else this.soon = true;
        }, signal);
        const failsafe = this.failsafeLoop(signal);
        while (!signal.aborted) {
          await this.round();
          await this.nap(signal);
        }
        await this.handOverIfDeleted();
        await Promise.all([watching, failsafe]);
        if (this.applied !== "") await this.kube.labelPod(this.podName, this.config.roleLabel, null);
        await this.pg.close();
      }
      /**
       * Stopping: if this pod is being deleted and is the serving primary the record names, it hands the primary over by a
       * switchover (handover.ts), then goes on with its rounds (it fences itself, as the kubelet stops PostgreSQL anyway, and
       * records its shutdown checkpoint) until the target is the recorded primary or HANDOVER_SECONDS have passed.
       */
      async handOverIfDeleted() {
        const [me, pods] = await Promise.all([
          this.kube.getPod(this.podName),
          this.kube.listPods(this.config.clusterSelector),
          this.readRecord(this.env.wallMicros())
        ]);
        const state = controlOf(this.config.pgdata)?.state;
        const plan3 = decideHandover({
          podName: this.podName,
          podTerminating: me.ok ? me.value?.terminating === true : void 0,
          record: this.apiUp ? this.record : void 0,
          primaryData: state === 6 /* IN_PRODUCTION */ || state === 3 /* SHUTTING_DOWN */ || state === 1 /* SHUT_DOWN */,
          standbys: this.standbys,
          pods: pods.ok ? pods.value : void 0
        });
        this.log(plan3.reason);
        if (plan3.kind !== "hand-over") return;
        const done = await this.swap(plan3.record);
        if (!done.ok) {
          this.log(`could not write the handover (${done.message}): the primary stops without one (run the failover job)`);
          return;
        }
        await this.podEvent("Normal", "HandingOver", plan3.reason);
        const targetUid = pods.ok ? pods.value.find((pod) => pod.name === plan3.target)?.uid : void 0;
        const deadline = this.env.monotonic() + HANDOVER_SECONDS;
        let lookedAt = NEVER;
        while (this.env.monotonic() < deadline) {
          await this.round();
          let targetPod;
          if (this.env.monotonic() - lookedAt >= HANDOVER_LOOK_SECONDS) {
            lookedAt = this.env.monotonic();
            const found = await this.kube.getPod(plan3.target);
            targetPod = found.ok ? found.value ?? null : void 0;
          }
          const next = decideHandoverWait({ podName: this.podName, target: plan3.target, targetUid, record: this.record, targetPod });
          if (next.kind === "done") {
            this.log(next.reason);
            return;
          }
          if (next.kind === "give-back") {
            const given = await this.swap(next.record);
            this.log(given.ok ? next.reason : `could not give the record back (${given.message}); looking again`);
            if (given.ok) {
              await this.podEvent("Warning", "HandoverUndone", next.reason);
              return;
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        this.log(`${plan3.target} did not take over within ${HANDOVER_SECONDS}s: the record stays switching-over (run the failover job to finish or undo it)`);
      }
      /** One round: read, decide, act. */
      async round() {
        this.takeStartRequest();
        const started = this.env.wallMicros();
        await this.postPodEvent();
        this.readPasswords();
        await this.reloadRenewedCertificate();
        await this.reloadChangedConfiguration();
        const readUptime = this.env.uptime();
        await this.readRecord(started);
        this.server = observedRole(this.config.pgdata);
        if (this.server !== "not-serving") this.servingAt = this.env.monotonic();
        if (this.startRequest !== void 0) await this.answerStartRequest(this.startRequest);
        const named = this.record?.state === "stable" && this.record.primary === this.podName;
        if (this.apiUp && !named) this.removeDeadline();
        if (this.apiUp && named && this.server === "primary" && !this.config.automaticFailover.enabled) {
          this.writeDeadline(readUptime, this.config.timing.isolationFenceSeconds);
        }
        if (this.apiUp && this.switchoverRequest !== void 0) {
          await this.carryOutSwitchoverRequest(this.switchoverRequest, "switchover");
        } else if (this.apiUp && this.lease.failoverRequest !== void 0) {
          await this.carryOutSwitchoverRequest(this.lease.failoverRequest, "failover");
        }
        const facts = await this.facts();
        const plan3 = decideSidecarStep(facts);
        if (plan3.reason !== this.lastReason) {
          this.log(plan3.reason);
          this.lastReason = plan3.reason;
        }
        let done = true;
        for (const step of plan3.steps) {
          done = await this.carryOut(step, plan3.reason, facts.otherPods);
          if (!done) break;
        }
        if (done && this.apiUp && this.server === "primary" && this.record?.state === "stable" && this.record.primary === this.podName) await this.roll();
        if (this.server === "primary") await this.watchArchive();
        await Promise.all(this.reports.splice(0));
      }
      /**
       * An Event about this pod, sent beside the round's next steps rather than before them (a promoted pod's label, a
       * fenced one's shutdown checkpoint, come first); the round ends once it is answered.
       */
      report(type, reason, message) {
        this.reports.push(this.podEvent(type, reason, message));
      }
      /** An Event about this pod, reported by the agent. */
      podEvent(type, reason, message) {
        return this.kube.podEvent(this.podName, type, reason, message, AGENT_COMPONENT);
      }
      /** Continuous archiving, on a primary (decideArchive): a look at pg_stat_archiver every ARCHIVE_LOOK_SECONDS, an Event when it starts failing or works again. */
      async watchArchive() {
        const now = this.env.monotonic();
        if (now - this.archiveLookedAt < ARCHIVE_LOOK_SECONDS) return;
        this.archiveLookedAt = now;
        const look = await this.attempt(() => this.pg.archiverLook());
        if (look === void 0) return;
        const decided = decideArchive(this.archiveWatch, look, now, this.podName);
        this.archiveWatch = decided.watch;
        if (decided.event === void 0) return;
        this.log(`${decided.event.reason}: ${decided.event.message}`);
        await this.podEvent(decided.event.type, decided.event.reason, decided.event.message);
      }
      /**
       * The rolling update (decideRoll), by the recorded primary that serves: a look every ROLL_LOOK_SECONDS while pods of an
       * older revision are left, every ROLL_IDLE_SECONDS otherwise.
       */
      async roll() {
        const now = this.env.monotonic();
        if (now - this.rollLookedAt < (this.rolling ? ROLL_LOOK_SECONDS : ROLL_IDLE_SECONDS)) return;
        this.rollLookedAt = now;
        const record = this.record;
        if (record?.state !== "stable") return;
        const [set, pods, standbys] = await Promise.all([
          this.kube.getStatefulSet(this.config.statefulSet),
          this.kube.listPods(this.config.clusterSelector),
          this.attempt(() => this.pg.standbys())
        ]);
        if (!set.ok || !pods.ok || set.value === void 0 || standbys === void 0) {
          const why = !set.ok ? set.message : !pods.ok ? pods.message : set.value === void 0 ? `there is no StatefulSet ${this.config.statefulSet}` : "PostgreSQL did not answer";
          this.logRoll(`cannot look at the rolling update: ${why}`);
          return;
        }
        const plan3 = decideRoll({
          podName: this.podName,
          record,
          replicas: set.value.replicas,
          updateRevision: set.value.updateRevision,
          pods: pods.value,
          standbys,
          paused: this.rollPaused,
          lastWait: this.rollWait === void 0 ? void 0 : { reason: this.rollWait.reason, seconds: now - this.rollWait.since }
        });
        if (plan3.kind !== "none" || this.rolling) this.logRoll(plan3.reason);
        this.rolling = plan3.kind !== "none";
        this.rollWait = plan3.kind !== "wait" ? void 0 : plan3.reason === this.rollWait?.reason ? this.rollWait : { reason: plan3.reason, since: now };
        if (plan3.kind === "wait" && plan3.stalled && this.rollStallReported !== plan3.reason) {
          this.rollStallReported = plan3.reason;
          await this.podEvent("Warning", "RollingUpdateStalled", `for ${ROLL_STALL_SECONDS}s and more: ${plan3.reason}`);
        }
        if (plan3.kind === "delete") {
          const deleted = await this.kube.deletePod(plan3.pod, plan3.uid);
          if (!deleted.ok) this.log(`could not delete ${plan3.pod} (${deleted.message}): looking again`);
          else await this.podEvent("Normal", "RollingUpdate", plan3.reason);
        }
        if (plan3.kind === "switch-over") {
          const done = await this.swap(plan3.record);
          if (!done.ok) {
            this.log(`could not write the rolling update's switchover (${done.message}): deciding again`);
            this.soon = true;
            return;
          }
          await this.podEvent("Normal", "SwitchingOver", plan3.reason);
          this.soon = true;
        }
      }
      logRoll(reason) {
        if (reason === this.lastRollReason) return;
        this.lastRollReason = reason;
        this.log(reason);
      }
      /** A lease the watch delivered (or read at its start), kept for newerDelivery; a deleted one forgets them all. */
      deliver(lease) {
        const version = lease?.metadata?.resourceVersion;
        if (lease === void 0 || typeof version !== "string" || version === "") {
          this.delivered.length = 0;
          return;
        }
        this.delivered.push({ version, at: this.env.monotonic(), lease: { lease, wallMicros: this.env.wallMicros() } });
        if (this.delivered.length > DELIVERIES_KEPT) this.delivered.shift();
      }
      /**
       * Reads the record (GET), or takes the watch's delivery of it when that is newer than the record held and fresh
       * (newerDelivery): a round woken by a change acts on it without asking the API again. Either is an answer of the API,
       * and counts as a read from when it came. A start request is answered from a read made after it: that round reads.
       */
      async readRecord(started) {
        const delivery = this.startRequest === void 0 ? newerDelivery(this.delivered, this.resourceVersion, this.env.monotonic(), DELIVERY_FRESH_SECONDS) : void 0;
        const got = delivery === void 0 ? await this.kube.getLease(this.config.leaderRecord) : { ok: true, value: delivery.lease.lease };
        let error;
        this.recordMalformed = false;
        if (!got.ok) {
          error = got.message;
        } else if (got.value === void 0) {
          this.switchoverRequest = void 0;
          this.record = void 0;
          this.resourceVersion = "";
          this.lease = NO_LEASE;
        } else {
          this.lease = leaseStateOf(got.value);
          const decoded = decodeRecord(got.value);
          const annotations = got.value.metadata?.annotations;
          this.switchoverRequest = annotations?.[SWITCHOVER_REQUEST];
          this.rollPaused = annotations?.[ROLL_PAUSE_ANNOTATION] === "true";
          if (decoded.ok) {
            this.record = decoded.record;
            this.resourceVersion = decoded.resourceVersion;
          } else {
            error = `the leader record is not one this agent can act on: ${decoded.error}`;
            this.recordMalformed = true;
          }
        }
        if (error !== void 0) {
          if (this.apiUp || error !== this.recordError) this.log(`cannot read the leader record: ${error}`);
          this.apiUp = false;
          this.recordError = error;
          return;
        }
        this.lastRead = delivery?.at ?? this.env.monotonic();
        this.noteLeaseChanges();
        if (!this.apiUp) {
          this.leaseChangedAt = this.env.monotonic();
          this.requestSeenAt = this.env.monotonic();
        }
        this.writeRecordCopy(delivery?.lease.wallMicros ?? started);
        if (!this.apiUp) this.log(`the API answers again: ${describeRecord(this.record)}`);
        this.apiUp = true;
      }
      /** A replica's clocks: when it last saw the lease renewed or the record change, and when the primary last changed. */
      noteLeaseChanges() {
        const now = this.env.monotonic();
        const key = leaseKey(this.record, this.lease);
        if (key !== this.leaseKeySeen) {
          this.leaseKeySeen = key;
          this.leaseChangedAt = now;
        }
        const requestKey = `${this.lease.failoverRequest}|${key}`;
        if (requestKey !== this.requestKeySeen) {
          this.requestKeySeen = requestKey;
          this.requestSeenAt = now;
        }
        if (this.lease.failoverRequest !== this.requestSeen) {
          this.requestSeen = this.lease.failoverRequest;
          this.requestEpoch = this.requestSeen === void 0 ? void 0 : this.record?.epoch;
        }
        const epoch = this.record?.epoch;
        if (this.epochSeen !== void 0 && epoch !== void 0 && epoch !== this.epochSeen) this.epochChangedAt = now;
        if (epoch !== void 0) this.epochSeen = epoch;
      }
      /** The entrypoint's copy, replaced whole (rename), with the time at which the read began. */
      writeRecordCopy(started) {
        const text = recordCopyText(this.record);
        const now = this.env.monotonic();
        if (text === this.recordCopy && !this.recordWanted && now - this.recordCopyWrittenAt < RECORD_COPY_SECONDS) return;
        const file = this.config.recordFile;
        try {
          fs5.writeFileSync(`${file}.new`, `read_at=${started}
${text}
`);
          fs5.renameSync(`${file}.new`, file);
          this.recordCopy = text;
          this.recordCopyWrittenAt = now;
          this.recordWanted = false;
        } catch (error) {
          this.log(`could not write ${file}: ${error.message}`);
        }
      }
      async facts() {
        const record = this.apiUp ? { kind: "read", record: this.record } : { kind: "unreadable", error: this.recordError, last: this.record };
        const me = this.podName;
        const current = this.apiUp ? this.record : void 0;
        const involved = current === void 0 ? this.server === "primary" : current.state === "stable" ? current.primary === me : current.target === me;
        const listed = this.server === "primary" ? current === void 0 || authorizes(current, me) : involved;
        const otherPods = this.apiUp && this.server !== "not-serving" && listed ? await this.otherPods() : void 0;
        const creating = this.apiUp && this.server === "primary" && current === void 0;
        return {
          podName: me,
          record,
          secondsSinceRecordRead: Math.floor(this.env.monotonic() - this.lastRead),
          isolationFenceSeconds: this.config.timing.isolationFenceSeconds,
          server: this.server,
          timeline: creating ? await this.attempt(() => this.pg.timeline()) : void 0,
          systemIdentifier: creating ? controlOf(this.config.pgdata)?.systemIdentifier : void 0,
          otherPods,
          syncReplicas: this.config.synchronousReplicas,
          // Asked of the target only: the old primary's checkpoint, once recorded, is what it waits for.
          receivedBeyondCheckpoint: awaitsCheckpoint(current, me) ? await this.attempt(() => this.pg.receivedBeyond(current.checkpoint)) : void 0,
          // Asked on the kept connection just before the fence: a target that does not stream this primary's timeline would
          // never receive its shutdown checkpoint.
          targetStreams: owesCheckpoint(current, me) && this.server === "primary" ? await this.attempt(() => this.pg.awaitStandbyStream(current.target, TARGET_STREAM_WAIT_MS)) : void 0,
          automaticFailover: this.automaticFailoverFacts(),
          failoverRequest: this.lease.failoverRequest === void 0 ? void 0 : {
            target: this.lease.failoverRequest,
            secondsUnanswered: this.env.monotonic() - this.requestSeenAt,
            answerSeconds: this.requestAnswerSeconds()
          },
          leaseShown: leaseShown(this.lease),
          failsafe: failsafeHolds(this.env.monotonic() - this.failsafeHeldAt)
        };
      }
      /**
       * The failsafe, apart from the rounds (whose calls to an API that does not answer take apiTimeoutSeconds each): twice a
       * second, while this pod is the recorded primary and serves, but has not confirmed it with the API for a while (with
       * automatic failover, no renewal for halfway to the renew deadline; without, no read of the record for half the
       * isolation fence), it asks every other pod (as last listed) to reply to WAL written now. When all do, each of them
       * reaches this primary: none takes over (a candidate waits a lease after this primary last answered it), and a failover
       * job refuses while they stream from it. The heartbeat fence's deadline moves on, and the rounds do not fence. Once one
       * stops replying, the deadline stays, and the fence comes within renewDeadlineSeconds (with automatic failover) or
       * FAILSAFE_FENCE_SECONDS (without).
       */
      async failsafeLoop(signal) {
        while (!signal.aborted) {
          await sleep(FAILSAFE_EVERY_MS, signal);
          if (!signal.aborted) await this.failsafeCheck();
        }
      }
      /** One look of the failsafe (failsafeLoop): failsafeDue, then decideFailsafe with the other pods' answer. */
      async failsafeCheck() {
        const settings = this.config.automaticFailover;
        const others = this.knownOthers;
        const named = () => this.record?.state === "stable" && this.record.primary === this.podName;
        const confirmedAt = () => settings.enabled ? this.renewedAt : this.lastRead;
        const due = failsafeDue({
          named: named(),
          othersKnown: others !== void 0,
          sinceConfirmed: this.env.monotonic() - confirmedAt(),
          // Halfway from a renewal due to the deadline, or halfway to the isolation fence.
          overdueAfter: settings.enabled ? (settings.renewSeconds + settings.renewDeadlineSeconds) / 2 : this.config.timing.isolationFenceSeconds / 2
        });
        if (!due || others === void 0 || observedRole(this.config.pgdata) !== "primary") return;
        const askedAt = this.env.monotonic();
        const askedUptime = this.env.uptime();
        const held = others.length === 0 || await this.attempt(() => this.pg.standbysAnswer(others, FAILSAFE_REPLY_MS)) === true;
        const plan3 = decideFailsafe({
          automaticFailover: settings.enabled,
          held,
          confirmedMeanwhile: confirmedAt() >= askedAt,
          stillNamed: named(),
          askedUptime,
          renewDeadlineSeconds: settings.renewDeadlineSeconds,
          deadlineWritten: this.deadlineWritten,
          sinceHeld: this.env.monotonic() - this.failsafeHeldAt
        });
        if (!plan3.hold) return;
        if (plan3.say) {
          const why = settings.enabled ? "the lease cannot be renewed" : "the leader record cannot be read";
          this.log(`FAILSAFE: ${why}, but every other pod (${others.join(", ") || "none"}) streams from this primary and replies: it keeps serving (nobody takes over from a primary that its replicas still follow)`);
        }
        this.failsafeHeldAt = askedAt;
        if (plan3.deadline !== void 0) this.writeDeadlineAt(plan3.deadline);
      }
      /** How long a primary may take to answer a failover request: twice the time after which it fences itself unconfirmed. */
      requestAnswerSeconds() {
        const settings = this.config.automaticFailover;
        return 2 * (settings.enabled ? settings.renewDeadlineSeconds : this.config.timing.isolationFenceSeconds);
      }
      automaticFailoverFacts() {
        const settings = this.config.automaticFailover;
        if (!settings.enabled) return void 0;
        const now = this.env.monotonic();
        return {
          leaseSeconds: settings.leaseSeconds,
          renewSeconds: settings.renewSeconds,
          renewDeadlineSeconds: settings.renewDeadlineSeconds,
          primaryRestartGraceSeconds: settings.primaryRestartGraceSeconds,
          minimumIntervalSeconds: settings.minimumIntervalSeconds,
          secondsSinceRenewed: now - this.renewedAt,
          secondsSinceServing: now - this.servingAt,
          secondsSinceLeaseChange: now - this.leaseChangedAt,
          secondsSincePrimaryChange: now - this.epochChangedAt,
          lease: this.lease
        };
      }
      /** A value from PostgreSQL, or undefined when it did not answer. */
      async attempt(query) {
        try {
          return await query();
        } catch {
          return void 0;
        }
      }
      /** The cluster's other pods; on the way, this pod's role label as the API has it (someone may have changed it). */
      async otherPods() {
        const listed = await this.kube.listPods(this.config.clusterSelector);
        if (!listed.ok) return void 0;
        this.knownOthers = listed.value.map((pod) => pod.name).filter((name) => name !== this.podName).sort();
        const me = listed.value.find((pod) => pod.name === this.podName);
        this.labelSeen = me === void 0 ? void 0 : me.labels[this.config.roleLabel] ?? "";
        this.othersLabeled = listed.value.filter((pod) => pod.name !== this.podName && pod.labels[this.config.roleLabel] === "primary").map((pod) => pod.name);
        return listed.value.map((pod) => pod.name).filter((name) => name !== this.podName).sort();
      }
      /** Carries out one step of a plan decided for `reason` (`listed`: the other pods as the round's facts listed them); false ends the round. */
      async carryOut(step, reason, listed) {
        switch (step.do) {
          case "label":
            await this.label(step.role === "none" ? "" : step.role);
            return true;
          case "create-record":
            await this.createRecord(step.record);
            return true;
          case "fence": {
            const serving = this.server !== "not-serving";
            await this.fence();
            if (serving && this.server === "not-serving") void this.podEvent("Warning", "Fenced", reason);
            return true;
          }
          case "report-checkpoint":
            return this.reportCheckpoint();
          case "write-record":
            return this.writeRecord(step.record, step.transition);
          case "promote": {
            if (!await this.promote(step.others)) return false;
            this.report("Normal", "Promoted", reason);
            return true;
          }
          case "record-timeline":
            await this.recordTimeline();
            return true;
          case "maintain-primary":
            await this.maintainPrimary(listed);
            return true;
          case "apply-credentials":
            await this.applyCredentials();
            return true;
          case "follow-new-primary":
            await this.followNewPrimary(step.epoch, step.timeline);
            return true;
          case "check-replica-wal":
            await this.checkReplicaWal();
            return true;
          case "renew":
            return this.renew(step.fenceOnFailure);
          case "release-lease":
            await this.releaseLease();
            return true;
          case "consider-takeover":
            return this.considerTakeover(step.cause);
          default:
            this.soon = true;
            return true;
        }
      }
      async label(role) {
        const now = this.env.monotonic();
        const plan3 = decideLabel({
          labelKey: this.config.roleLabel,
          wanted: role,
          applied: this.applied,
          seen: this.labelSeen,
          othersPrimary: this.othersLabeled,
          now,
          appliedAt: this.appliedAt,
          changedSeenAt: this.labelChangedSeenAt,
          reassertSeconds: this.config.timing.reassertSeconds,
          waiting: this.lastLabelWait
        });
        if (plan3.do === "wait") {
          if (plan3.say) this.log(plan3.waiting);
          this.lastLabelWait = plan3.waiting;
          this.labelChangedSeenAt = plan3.changedSeenAt;
          return;
        }
        this.lastLabelWait = "";
        this.labelChangedSeenAt = void 0;
        if (plan3.do === "keep") return;
        if (plan3.restore) this.log(`the ${this.config.roleLabel} label was changed to "${this.labelSeen}" by someone else: setting it back to "${role}"`);
        const done = await this.kube.labelPod(this.podName, this.config.roleLabel, role === "" ? null : role);
        if (!done.ok) {
          this.log(`could not update the label (${done.message}); retrying`);
          return;
        }
        if (role !== this.applied) {
          this.log(`${this.config.roleLabel}=${role === "" ? "(none)" : role} (PostgreSQL is ${this.server === "not-serving" ? "not serving" : this.server}; ${describeRecord(this.record)})`);
        }
        this.applied = role;
        this.appliedAt = now;
        this.labelSeen = void 0;
      }
      /**
       * A switchover asked for on the record (SWITCHOVER_REQUEST): the serving primary hands over to that standby (or the
       * most advanced, for `any`) and the sidecars carry it out; a request it cannot carry out is removed, with a Warning
       * Event. A failover request (FAILOVER_REQUEST) is carried out the same way by a primary that serves (nothing is lost),
       * unless it was made before this pod became the primary (a failover or switchover answered it already): then it goes.
       */
      async carryOutSwitchoverRequest(request3, asked) {
        const serving = this.server === "primary";
        const record = this.record;
        if (record?.state !== "stable" || record.primary !== this.podName || !serving) return;
        const standbys = await this.attempt(() => this.pg.standbys());
        const pods = await this.kube.listPods(this.config.clusterSelector);
        const plan3 = decideRequestedSwitchover({
          podName: this.podName,
          record,
          serving,
          request: request3,
          standbys: standbys ?? [],
          pods: pods.ok ? pods.value : void 0,
          failoverRequestEpoch: asked === "failover" ? this.requestEpoch : void 0
        });
        if (plan3.kind === "ignore") return;
        const reason = asked === "switchover" || plan3.kind === "drop" ? plan3.reason : `failover requested (${FAILOVER_REQUEST}), but this primary serves: ${plan3.reason}`;
        this.log(reason);
        const done = await this.swap(plan3.kind === "hand-over" ? plan3.record : record, true);
        if (!done.ok) {
          this.log(`could not write the switchover request's outcome (${done.message}): deciding again`);
          this.soon = true;
          return;
        }
        this.switchoverRequest = void 0;
        if (plan3.kind === "refuse") await this.podEvent("Warning", asked === "switchover" ? "SwitchoverRefused" : "FailoverRefused", reason);
        if (plan3.kind === "hand-over") await this.podEvent("Normal", "SwitchingOver", reason);
      }
      /**
       * A Compare-and-swap of the record read this round; the record and resourceVersion follow the API's answer.
       * `clearRequest` also removes a switchover or failover request from the Lease.
       */
      async swap(record, clearRequest = false, lease = {}, extra = {}) {
        const patch = encodeRecordPatch(record, this.resourceVersion);
        const requests = clearRequest ? { [SWITCHOVER_REQUEST]: null, [FAILOVER_REQUEST]: null } : {};
        const annotations = { ...patch.metadata.annotations, ...extra, ...requests };
        const sent = { metadata: { ...patch.metadata, annotations }, spec: { ...patch.spec, ...lease } };
        const done = await this.kube.patchLease(this.config.leaderRecord, sent);
        if (!done.ok) return done;
        const decoded = decodeRecord(done.value);
        if (decoded.ok) {
          this.record = decoded.record;
          this.resourceVersion = decoded.resourceVersion;
          this.lease = leaseStateOf(done.value);
          this.noteLeaseChanges();
        }
        return { ok: true };
      }
      /** spec.renewTime now, as a MicroTime (six digits of fraction, as the API server writes and parses it). */
      renewTime() {
        const micros = this.env.wallMicros();
        const seconds = new Date(Math.floor(micros / 1e6) * 1e3).toISOString().slice(0, 19);
        return `${seconds}.${String(Math.floor(micros % 1e6)).padStart(6, "0")}Z`;
      }
      /** The lease fields of a renewal by this pod, with the WAL position of its PostgreSQL if it answers (else removed). */
      async renewal() {
        const position = this.server === "primary" ? await this.attempt(() => this.pg.currentWalLsn()) : void 0;
        return {
          spec: { renewTime: this.renewTime(), leaseDurationSeconds: this.config.automaticFailover.leaseSeconds },
          annotations: { [WAL_POSITION_ANNOTATION]: position ?? null }
        };
      }
      /**
       * Automatic failover: renews this primary's lease (a compare-and-swap of the record read, with a new renew time). Its
       * deadline counts from the start of the renewal, before the API could have written it. A renewal that fails after the
       * deadline fences this primary: by the time a replica may take over, it takes no writes.
       */
      async renew(fenceOnFailure) {
        const record = this.record;
        if (record === void 0) return true;
        const started = this.env.monotonic();
        const renewal = await this.renewal();
        const startedUptime = this.env.uptime();
        const done = await this.swap(record, false, renewal.spec, renewal.annotations);
        if (done.ok) {
          this.renewedAt = started;
          this.writeDeadline(startedUptime);
          if (this.lastRenewProblem !== "") this.log("renewed the lease again");
          this.lastRenewProblem = "";
          return true;
        }
        const problem = `could not renew the lease (${done.message})`;
        if (fenceOnFailure && done.status !== 409) {
          this.log(`FENCING this primary: ${problem}, and its last renewal began ${this.config.automaticFailover.renewDeadlineSeconds}s ago or more (renewDeadlineSeconds)`);
          this.lastRenewProblem = problem;
          await this.fence();
          return false;
        }
        if (problem !== this.lastRenewProblem) this.log(`${problem}; retrying`);
        this.lastRenewProblem = problem;
        if (done.status === 409) this.soon = true;
        return false;
      }
      /**
       * The heartbeat fence's deadline (lease-fence.sh): the start of what confirmed this primary (a renewal, a read of the
       * record, the failsafe's question) on the pod's shared clock, plus `seconds` (by default the renew deadline), in
       * hundredths of a second; replaced whole (rename). The fence stops PostgreSQL once it has passed.
       */
      writeDeadline(startedUptime, seconds = this.config.automaticFailover.renewDeadlineSeconds) {
        this.writeDeadlineAt(fenceDeadline(startedUptime, seconds));
      }
      /** Writes the heartbeat fence's deadline (hundredths of /proc/uptime). */
      writeDeadlineAt(deadline) {
        const file = this.config.automaticFailover.deadlineFile;
        try {
          fs5.writeFileSync(`${file}.new`, `${deadline}
`);
          fs5.renameSync(`${file}.new`, file);
          this.deadlineWritten = deadline;
        } catch (error) {
          this.log(`could not write ${file} (${error.message}): the heartbeat fence stops this primary at the last deadline written`);
        }
      }
      /** Not the primary: no deadline for the heartbeat fence (a promotion later must not find an old one, long passed). */
      removeDeadline() {
        try {
          removeIfThere(this.config.automaticFailover.deadlineFile);
          this.deadlineWritten = NEVER;
        } catch (error) {
          this.log(`could not remove ${this.config.automaticFailover.deadlineFile} (${error.message})`);
        }
      }
      /** Without automatic failover, a lease left on the record goes (a replica with automatic failover would see it lapse). */
      async releaseLease() {
        const record = this.record;
        if (record === void 0) return;
        const done = await this.swap(record, false, { renewTime: null, leaseDurationSeconds: null }, { [WAL_POSITION_ANNOTATION]: null });
        this.log(done.ok ? "automatic failover is off: removed the lease from the leader record" : `could not remove the lease from the leader record (${done.message})`);
      }
      /**
       * Automatic failover: the primary's lease lapsed on this replica's clock. It asks itself and every other pod what they are
       * (over the pod network), and takes over if decideTakeover says so: the record first (compare-and-swap, a new epoch, a
       * renewed lease), then the promotion, the label and the timeline, and an Event on the pod and on the record.
       */
      async considerTakeover(cause) {
        const record = this.record;
        if (record?.state !== "stable" || this.passwords === void 0) return true;
        const listed = await this.kube.listPodNames(this.config.clusterSelector);
        if (!listed.ok) {
          this.logTakeover(`not taking over from ${record.primary}: the pods cannot be listed (${listed.message})`);
          return true;
        }
        const others = listed.value.filter((pod) => pod !== this.podName).sort();
        const passwords = this.passwords;
        const [self, ...answers] = await Promise.all([
          this.attempt(() => this.pg.status()),
          ...others.map((pod) => peerStatus(this.peerConnection(`${pod}.${this.config.peerDomain}`, passwords, PEER_CONNECT_MS)))
        ]);
        if (answers[others.indexOf(record.primary)]?.role === "primary") this.primaryAnsweredAt.set(record.primary, this.env.monotonic());
        const peers = others.map((pod, i) => {
          const answer = answers[i];
          if (answer === void 0) return { pod, role: "unreachable", lsn: "?" };
          return { pod, role: answer.role, lsn: answer.lsn, timeline: answer.timeline };
        });
        const data = dataDirectoryOf(this.config.pgdata);
        const decision = decideTakeover({
          podName: this.podName,
          record,
          self: self === void 0 ? { pod: this.podName, role: "starting", lsn: "?" } : { pod: this.podName, role: self.role, lsn: self.lsn },
          systemIdentifier: data.kind === "data" ? data.systemIdentifier : void 0,
          timeline: data.kind === "data" ? data.timeline : void 0,
          peers,
          otherPods: others,
          syncReplicas: this.config.synchronousReplicas,
          maximumLagBytes: this.config.automaticFailover.maximumLagBytes,
          primaryWalPosition: this.lease.walPosition,
          leaseSeconds: cause.kind === "lease" ? this.config.automaticFailover.leaseSeconds : this.requestAnswerSeconds(),
          secondsSincePrimaryAnswered: this.env.monotonic() - (this.primaryAnsweredAt.get(record.primary) ?? NEVER),
          cause
        });
        const news = decision.reason !== this.lastTakeoverReason;
        this.logTakeover(decision.reason);
        if (decision.kind === "wait") {
          const waiting = cause.kind === "lease" ? "AutomaticFailoverWaiting" : "RequestedFailoverWaiting";
          if (news) await this.podEvent("Normal", waiting, decision.reason);
          return true;
        }
        const automatic = this.config.automaticFailover.enabled;
        const started = this.env.monotonic();
        const startedUptime = this.env.uptime();
        const renewal = automatic ? await this.renewal() : void 0;
        const done = await this.swap(
          decision.record,
          true,
          renewal === void 0 ? {} : { ...renewal.spec, holderIdentity: this.podName },
          renewal === void 0 ? {} : { [WAL_POSITION_ANNOTATION]: null }
        );
        if (!done.ok) {
          this.log(`could not record the takeover (${done.message}): deciding again`);
          this.soon = true;
          return false;
        }
        if (automatic) this.renewedAt = started;
        this.writeDeadline(startedUptime, automatic ? this.config.automaticFailover.renewDeadlineSeconds : this.config.timing.isolationFenceSeconds);
        const message = `${this.podName} took over from ${record.primary}, ${cause.kind === "lease" ? "whose lease lapsed" : `which did not answer the failover request (${FAILOVER_REQUEST}=${cause.target})`} (${describeRecord(this.record)})`;
        const eventReason = cause.kind === "lease" ? "AutomaticFailover" : "RequestedFailover";
        const unlabelled = await this.kube.labelPod(record.primary, this.config.roleLabel, null);
        if (!unlabelled.ok) this.log(`could not remove the ${this.config.roleLabel} label of ${record.primary} (${unlabelled.message}); its agent removes it when it can`);
        const promoted = await this.promote(others);
        if (promoted) await this.label("primary");
        await Promise.all([
          this.podEvent("Warning", eventReason, message),
          this.kube.leaseEvent(this.config.leaderRecord, this.podName, "Warning", eventReason, message, AGENT_COMPONENT)
        ]);
        if (promoted) await this.recordTimeline();
        return false;
      }
      logTakeover(reason) {
        if (reason !== this.lastTakeoverReason) this.log(reason);
        this.lastTakeoverReason = reason;
      }
      async createRecord(record) {
        const done = await this.kube.createLease(encodeRecordLease(this.config.leaderRecord, this.config.recordLabels, record));
        if (done.ok) {
          this.log(`created the leader record: ${describeRecord(record)}`);
        } else {
          this.log(`could not create the leader record: ${done.message}`);
        }
      }
      /**
       * This server must stop taking writes now: it restarts as a replica (standby.signal) and its entrypoint decides from the
       * record what it follows. The label goes while PostgreSQL stops. The fence is done once the shutdown checkpoint is
       * written (no write comes after it), which a switchover reports at once; the postmaster's exit comes later: its WAL
       * senders hand the last records to the replicas, its archiver pushes the segments still ready.
       */
      async fence() {
        this.removeDeadline();
        const unlabel = this.kube.labelPod(this.podName, this.config.roleLabel, null);
        try {
          writeStandbySignal(this.config.pgdata);
          if (!await fastShutdown(this.config.pgdata, SHUTDOWN_TIMEOUT_MS, "shutdown-checkpoint")) this.log("the fast shutdown did not finish; retrying next round");
        } catch (error) {
          this.log(`could not fence: ${error.message}; retrying next round`);
        }
        this.applied = (await unlabel).ok ? "" : void 0;
        this.labelSeen = void 0;
        this.server = observedRole(this.config.pgdata);
      }
      /** A switchover away from this pod waits for its shutdown checkpoint, once pg_control says it shut down cleanly. */
      async reportCheckpoint() {
        const control = controlOf(this.config.pgdata);
        const next = control === void 0 ? void 0 : shutdownCheckpointUpdate(this.record, this.podName, control);
        if (next === void 0 || next.state !== "switching-over") return true;
        const done = await this.swap(next);
        if (done.ok) {
          this.log(`fenced for the switchover to ${next.target}: recorded the shutdown checkpoint ${next.checkpoint}`);
          return true;
        }
        this.log(`could not record the shutdown checkpoint ${next.checkpoint} (${done.message}); retrying`);
        this.soon = true;
        return false;
      }
      async writeRecord(record, transition) {
        const previous = this.record;
        const done = await this.swap(record);
        if (!done.ok) {
          this.log(`could not record ${describeRecord(record)} (${transition}: ${done.message}): deciding again`);
          this.soon = true;
          return false;
        }
        const checkpoint2 = previous?.state === "switching-over" ? previous.checkpoint : void 0;
        this.log(checkpoint2 !== void 0 ? `received the old primary's shutdown checkpoint ${checkpoint2}: recorded this pod as the primary (${describeRecord(record)})` : `recorded ${describeRecord(record)} (${transition})`);
        return true;
      }
      /** The record names this pod, and PostgreSQL is a replica: promote it, with slots for the other pods. */
      async promote(others) {
        try {
          await this.pg.promote(others.map(slotOf), PROMOTE_TIMEOUT_MS);
        } catch (error) {
          this.log(`promotion failed (${error.message}); deciding again`);
          this.soon = true;
          return false;
        }
        this.server = "primary";
        this.lastOthers = void 0;
        return true;
      }
      /**
       * Keeps the record's timeline that of this primary (it changes with a promotion). The replicas follow a new primary
       * when the record's timeline changes: a write that conflicts (another write came first, as the old primary's last
       * after a handover) or is not answered is tried again in the next round, at once (maintainPrimary does it again), not
       * when the primary is next maintained.
       */
      async recordTimeline() {
        if (this.record?.state !== "stable") return;
        const next = timelineUpdate(this.record, await this.attempt(() => this.pg.timeline()));
        if (next === void 0 || (await this.swap(next)).ok) return;
        this.lastOthers = void 0;
        this.soon = true;
      }
      /**
       * Slots for every other pod that exists, the synchronous set and the timeline, when pods came or went or now and then;
       * the pods as the round listed them (listed again only when it did not).
       */
      async maintainPrimary(listed) {
        this.standbys = await this.attempt(() => this.pg.standbys()) ?? this.standbys;
        const others = listed ?? await this.otherPods();
        if (others === void 0 || this.record?.state !== "stable") return;
        const key = others.join(",");
        const now = this.env.monotonic();
        if (key === this.lastOthers && now - this.lastMaintained < this.config.timing.maintainSeconds && this.goneAt.size === 0 && (this.config.synchronousReplicas === 0 || key === this.record.sync.join(","))) {
          return;
        }
        this.lastOthers = key;
        this.lastMaintained = now;
        await this.maintainSlots(others);
        if (this.config.synchronousReplicas > 0) await this.maintainSyncSet(this.record, others);
        await this.recordTimeline();
      }
      async maintainSlots(others) {
        try {
          const changes = await this.pg.maintainSlots(others.map(slotOf), `${slotOf(this.podName.replace(/-\d+$/, ""))}_`);
          for (const dropped of changes.dropped) this.log(`dropping replication slot ${dropped.slot} (${dropped.why === "lost" ? "lost" : "its pod is gone"})`);
          for (const failed of changes.failed) this.log(`could not maintain a replication slot: ${failed}`);
        } catch (error) {
          this.log(`could not maintain the replication slots: ${error.message}`);
        }
      }
      /**
       * Synchronous mode: the record lists every standby that may confirm a commit; a pod that is gone leaves the list only
       * once synchronousReplicas of the others have flushed all WAL written before it left (nextSyncSet).
       */
      async maintainSyncSet(record, others) {
        const recorded = record.sync;
        const caughtUp = {};
        for (const member of recorded) {
          if (others.includes(member)) continue;
          if (!this.goneAt.has(member)) {
            const lsn = await this.attempt(() => this.pg.currentWalLsn());
            if (lsn === void 0) return;
            this.goneAt.set(member, lsn);
          }
          caughtUp[member] = await this.attempt(() => this.pg.standbysFlushedPast(others, this.goneAt.get(member)));
        }
        const next = nextSyncSet({ recorded, others, caughtUp, syncReplicas: this.config.synchronousReplicas });
        if (next === void 0 || !next.changed) return;
        const done = await this.swap(recordSyncSet(record, next.sync));
        if (!done.ok) return;
        this.log(`synchronous standbys recorded: ${next.sync.join(",")}`);
        for (const member of [...this.goneAt.keys()]) {
          if (!next.sync.includes(member)) this.goneAt.delete(member);
        }
      }
      /** An Event the entrypoint left for the sidecar to post (`<type> <reason> <message>`); the file goes once it is posted. */
      async postPodEvent() {
        let text;
        try {
          text = fs5.readFileSync(this.config.eventFile, "utf8").trim();
        } catch {
          return;
        }
        const parsed = parseEventLine(text);
        if (parsed === void 0) {
          this.log(`ignoring ${this.config.eventFile}: not "<Normal|Warning> <Reason> <message>": ${text.slice(0, 200)}`);
          removeIfThere(this.config.eventFile);
          return;
        }
        const posted = await this.podEvent(parsed.type, parsed.reason, parsed.message);
        if (!posted.ok) {
          this.log(`could not post the ${parsed.reason} Event (${posted.message}); retrying`);
          return;
        }
        this.log(`posted a ${parsed.type} Event about this pod: ${parsed.reason}`);
        removeIfThere(this.config.eventFile);
      }
      /** The passwords as the mounted Secrets say now; undefined while a file is missing or empty. */
      readPasswords() {
        const read = (file) => {
          try {
            return fs5.readFileSync(file, "utf8");
          } catch {
            return "";
          }
        };
        const superuser = read(path3.join(this.config.secretDir, "password"));
        const replication = read(path3.join(this.config.secretDir, "replication-password"));
        const app = this.config.users.app === "" ? "" : read(path3.join(this.config.appSecretDir, "password"));
        this.passwords = superuser !== "" && replication !== "" && (this.config.users.app === "" || app !== "") ? { superuser, replication, app } : void 0;
        if (this.passwords !== void 0) this.writePassfile(this.passwords);
      }
      /** The pod's password file (the postgres container's replication connection uses it), rewritten when a Secret changed. */
      writePassfile(passwords) {
        const users = this.config.users;
        const text = passfileText(users.replication, passwords.replication, users.superuser, passwords.superuser);
        if (text === this.passfileWritten) return;
        const file = this.config.passwordFile;
        try {
          fs5.writeFileSync(`${file}.${process.pid}`, text, { mode: 384 });
          fs5.renameSync(`${file}.${process.pid}`, file);
        } catch (error) {
          this.log(`could not write ${file} (${error.message}); retrying`);
          return;
        }
        if (this.passfileWritten !== "") this.log("the Secret changed: rewrote this pod's password file");
        this.passfileWritten = text;
      }
      /** On the primary: the roles and their passwords as the Secrets say, after every start and whenever a Secret changed. */
      async applyCredentials() {
        const passwords = this.passwords;
        if (passwords === void 0) return;
        const wanted = JSON.stringify(passwords);
        if (wanted === this.credentialsApplied) return;
        const users = this.config.users;
        try {
          await this.pg.applyCredentials({
            superuser: users.superuser,
            superuserPassword: passwords.superuser,
            replicationUser: users.replication,
            replicationPassword: passwords.replication,
            appUser: users.app === "" ? void 0 : users.app,
            appPassword: users.app === "" ? void 0 : passwords.app,
            appDatabase: this.config.appDatabase
          });
        } catch (error) {
          this.log(`could not apply the Secrets' passwords to the roles (${error.message}); retrying`);
          return;
        }
        if (this.credentialsApplied !== "") {
          this.log(`applied the changed passwords of the Secrets to the roles ${[users.superuser, users.replication, ...users.app === "" ? [] : [users.app]].join(", ")}`);
        }
        this.credentialsApplied = wanted;
      }
      /**
       * What PostgreSQL reads again on a reload (a file, or a directory of them), as read now: when it differs from what this
       * agent read last (not at the first read), `changed(before)` reloads; what was read is kept once that succeeds, so a
       * failed reload is tried again.
       */
      async onChange(where, contents, changed) {
        const before = this.filesSeen.get(where);
        if (before !== void 0 && before !== contents && !await changed(before)) return;
        this.filesSeen.set(where, contents);
      }
      async reloaded() {
        return await this.attempt(async () => {
          await this.pg.reload();
          return true;
        }) === true;
      }
      /** A renewed certificate in the mounted Secret: PostgreSQL reads its certificate and key again on a reload. */
      async reloadRenewedCertificate() {
        if (this.config.tlsSecretDir === "") return;
        const file = path3.join(this.config.tlsSecretDir, "tls.crt");
        const certificate = readIfExists(file);
        if (!certificate) return;
        await this.onChange(file, certificate, async () => {
          if (!await this.reloaded()) return false;
          this.log(`the certificate in ${this.config.tlsSecretDir} changed (renewed): PostgreSQL reloaded it`);
          return true;
        });
      }
      /**
       * A changed configuration (the ConfigMap's postgresql.conf or pg_hba.conf, which the kubelet updates in the running
       * pod): PostgreSQL reloads it, and the agent says which settings are in effect now and which wait for a restart (a log
       * line and an Event on the pod). While PostgreSQL does not serve there is nothing to reload: it reads them as it starts.
       */
      async reloadChangedConfiguration() {
        const read = (file) => readIfExists(path3.join(this.config.configDir, file));
        const [conf, hba] = [read("postgresql.conf"), read("pg_hba.conf")];
        if (conf === void 0 || hba === void 0) return;
        await this.onChange(this.config.configDir, `${conf}\0${hba}`, async (before) => {
          if (this.server === "not-serving") {
            this.log("the configuration changed while PostgreSQL does not serve: it reads the new one as it starts");
            return true;
          }
          if (!await this.reloaded()) return false;
          await new Promise((resolve) => setTimeout(resolve, RELOAD_SETTLE_MS));
          const outcome = await this.attempt(() => this.pg.reloadOutcome());
          if (outcome === void 0) return false;
          const [oldConf, oldHba] = before.split("\0");
          const report = reloadReport(changedSettings(oldConf, conf), hba !== oldHba, outcome);
          this.log(`${report.reason}: ${report.message}`);
          await this.podEvent(report.type, report.reason, report.message);
          return true;
        });
      }
      /**
       * A new primary's timeline: a replica that does not stream on it yet has its WAL receiver ended and its configuration
       * reloaded (which wakes the startup process out of its wal_retrieve_retry_interval wait: it connects at once, through
       * the write Service), once per epoch and timeline; afterwards, while it still does not, a receiver that has gone
       * FOLLOW_HANG_SECONDS without streaming is ended again (decideFollow), looking every FOLLOW_LOOK_SECONDS.
       */
      async followNewPrimary(epoch, timeline) {
        const key = `${epoch}/${timeline}`;
        const changed = key !== this.followed;
        const now = this.env.monotonic();
        if (!changed && now - this.followLookedAt < FOLLOW_LOOK_SECONDS) return;
        this.followLookedAt = now;
        const streaming = await this.attempt(() => this.pg.streamingOnTimeline(timeline));
        if (streaming !== void 0) this.followed = key;
        const receiver = streaming === false ? await this.attempt(() => this.pg.walReceiverPid()) : void 0;
        const plan3 = decideFollow({ changed, streaming, receiver, seen: this.receiverSeen, now });
        this.receiverSeen = plan3.seen;
        this.following = plan3.following;
        if (plan3.end !== void 0) await this.attempt(() => this.pg.endWalReceiver(plan3.end));
        if (plan3.reload) await this.attempt(() => this.pg.reload());
      }
      /**
       * A replica that has not streamed for walCheckSeconds although the primary answers: if the primary no longer has the WAL
       * segment it needs next, only a new clone helps (the entrypoint makes one when it finds the request).
       */
      async checkReplicaWal() {
        const now = this.env.monotonic();
        if (now - this.lastWalCheck < WAL_CHECK_EVERY_SECONDS) return;
        this.lastWalCheck = now;
        const record = this.record;
        const streamed = await this.attempt(() => this.pg.streamedASecond(countedTimeline(record)));
        if (streamed === true) {
          this.lastStreaming = now;
          this.senderSeen = void 0;
          return;
        }
        if (record?.state !== "stable" || record.primary === this.podName || this.passwords === void 0) return;
        if (this.staleSenderLook === void 0) {
          this.staleSenderLook = this.endStaleSender(this.passwords, streamed).catch((error) => this.log(`could not look for a stale walsender: ${error.message}`)).finally(() => {
            this.staleSenderLook = void 0;
          });
        }
        if (now - this.lastStreaming < this.config.timing.walCheckSeconds) return;
        const position = await this.attempt(() => this.pg.receivePosition());
        if (position === void 0 || position === null) return;
        const lacks = await primaryLacksWal(this.peerConnection(this.config.primaryHost, this.passwords, 3e3), position);
        const why = recloneReason({
          recordTimeline: record.timeline,
          position,
          primaryLacksWal: lacks,
          receiverTimeline: await this.attempt(() => this.pg.receiverTimeline()),
          history: readIfExists(path3.join(this.config.pgdata, "pg_wal", historyFileName(record.timeline)))
        });
        if (why === void 0) return;
        this.log(`not streaming for ${Math.floor(now - this.lastStreaming)}s, and ${why}: requesting a new clone`);
        fs5.writeFileSync(path3.join(path3.dirname(this.config.pgdata), RECLONE_MARKER), "");
        await fastShutdown(this.config.pgdata, SHUTDOWN_TIMEOUT_MS);
        this.lastStreaming = this.env.monotonic();
      }
      /**
       * A walsender on the primary that holds this pod's slot while this replica does not stream (decideStaleSender): its
       * connection is gone, and it would refuse every new WAL receiver until the primary's wal_sender_timeout ends it.
       */
      async endStaleSender(passwords, streams) {
        const primary = this.peerConnection(this.config.primaryHost, passwords, 3e3);
        const slot = slotOf(this.podName);
        const sender = streams === false ? await slotSender(primary, slot) : void 0;
        const plan3 = decideStaleSender({ streams, sender, seen: this.senderSeen });
        this.senderSeen = plan3.seen;
        if (plan3.end === void 0) return;
        const ended = await endSlotSender(primary, slot, plan3.end);
        if (ended === true) {
          this.log(`the primary's walsender ${plan3.end} held this pod's replication slot ${slot} at two looks ${WAL_CHECK_EVERY_SECONDS}s apart, while this replica did not stream: its connection is gone; ended it, so that the WAL receiver can connect`);
        }
      }
      /** How this agent logs in to another pod's PostgreSQL: the network role, with its password (TLS when the cluster has it). */
      peerConnection(host, passwords, connectTimeoutMs) {
        const users = this.config.users;
        return {
          host,
          port: this.config.port,
          user: users.network,
          password: users.network === users.superuser ? passwords.superuser : passwords.replication,
          ssl: this.config.tls,
          connectTimeoutMs
        };
      }
      /**
       * The entrypoint's start plan (start-agent.ts), decided on the record this round read after the request: while the
       * API cannot be read the plan is to wait (decideStart's 'stale'), never one resting on an older read.
       */
      async answerStartRequest(request3) {
        const record = this.apiUp ? { kind: "read", record: this.record } : this.recordMalformed ? { kind: "malformed", error: this.recordError } : { kind: "stale" };
        const passwords = this.passwords;
        const plan3 = await startPlanOf({
          podName: this.podName,
          pgdata: this.config.pgdata,
          configDir: this.config.configDir,
          record,
          restoreFrom: this.config.restoreFrom,
          syncReplicas: this.config.synchronousReplicas,
          postgresVersion: this.config.postgresVersion,
          ask: async (pod) => passwords === void 0 ? void 0 : peerStatus(this.peerConnection(`${pod}.${this.config.peerDomain}`, passwords, 3e3))
        });
        if (isBootstrapWait(plan3) && this.env.monotonic() - this.startRequestAt < START_HOLD_SECONDS) return;
        try {
          writeStartPlan(this.config.startPlanFile, request3, plan3);
          this.startRequest = void 0;
        } catch (error) {
          this.log(`could not write ${this.config.startPlanFile}: ${error.message}`);
        }
      }
      /** Automatic failover: seconds until this agent must look again (a renewal due, its deadline, a replica's lease lapsing). */
      dueInSeconds() {
        const settings = this.config.automaticFailover;
        if (!settings.enabled) return Infinity;
        const now = this.env.monotonic();
        const record = this.record;
        const due = record?.state === "stable" && record.primary === this.podName ? [this.renewedAt + settings.renewSeconds, this.renewedAt + settings.renewDeadlineSeconds] : [this.leaseChangedAt + settings.leaseSeconds];
        const ahead = due.map((at) => at - now).filter((seconds) => seconds > 0);
        return ahead.length > 0 ? Math.min(...ahead) : Infinity;
      }
      /**
       * Takes the entrypoint's start-plan request (`<startPlanFile>.wanted`) if there is one: this round or the next answers
       * it, with a fresh copy of the record. False when there is none.
       */
      takeStartRequest() {
        const wanted = `${this.config.startPlanFile}.wanted`;
        const request3 = fs5.existsSync(wanted) ? readIfExists(wanted) : void 0;
        if (request3 === void 0) return false;
        removeIfThere(wanted);
        this.startRequest = parseStartRequest(request3);
        this.startRequestAt = this.env.monotonic();
        if (this.startRequest === void 0) this.log(`ignoring ${wanted}: ${JSON.stringify(request3.slice(0, 80))} is not a request id`);
        this.recordWanted = true;
        return true;
      }
      /**
       * Waits pollSeconds, or less: when the record changes (the watch), when the entrypoint asks for a start plan
       * (`<startPlanFile>.wanted`, which also rewrites the copy of the record: seen at once where the file system tells,
       * else within a tenth of a second), when PostgreSQL starts serving while it was not, when a held start request is due
       * (START_HOLD_SECONDS), when a replica that does not stream on the record's timeline is due another look
       * (FOLLOW_LOOK_SECONDS), or 10 ms after a round that asked.
       */
      nap(signal) {
        if (signal.aborted) return Promise.resolve();
        if (this.soon) {
          this.soon = false;
          return new Promise((resolve) => setTimeout(resolve, 10));
        }
        const awaitServer = this.server === "not-serving" && readPostmaster(this.config.pgdata)?.ready !== true;
        const holdLeft = this.startRequest === void 0 ? 0 : this.startRequestAt + START_HOLD_SECONDS - this.env.monotonic();
        const held = holdLeft > 0 ? holdLeft : Infinity;
        return new Promise((resolve) => {
          let watcher;
          const finish = () => {
            clearInterval(looking);
            clearTimeout(timer);
            watcher?.close();
            signal.removeEventListener("abort", finish);
            this.wake = void 0;
            resolve();
          };
          const look = () => {
            if (this.takeStartRequest()) {
              finish();
            } else if (awaitServer) {
              const postmaster = readPostmaster(this.config.pgdata);
              if (postmaster?.ready === true && postmaster.alive) finish();
            }
          };
          const follow = this.following && this.server === "replica" ? this.followLookedAt + FOLLOW_LOOK_SECONDS - this.env.monotonic() : Infinity;
          const timer = setTimeout(finish, Math.max(10, Math.min(this.config.timing.pollSeconds, this.dueInSeconds(), held, follow) * 1e3));
          const looking = setInterval(look, 100);
          try {
            watcher = fs5.watch(path3.dirname(this.config.startPlanFile), look);
            watcher.on("error", () => watcher?.close());
          } catch {
          }
          this.wake = finish;
          signal.addEventListener("abort", finish);
          look();
        });
      }
    };
  }
});

// src/agent/main.ts
var main_exports = {};
__export(main_exports, {
  COMMANDS: () => COMMANDS,
  logLine: () => logLine,
  usageProblem: () => usageProblem
});
module.exports = __toCommonJS(main_exports);
var fs6 = __toESM(require("fs"));

// src/agent/config.ts
var SIDECAR_CONFIG_VERSION = 1;
var TIMING = {
  pollSeconds: "seconds",
  reassertSeconds: "seconds",
  isolationFenceSeconds: "seconds",
  walCheckSeconds: "seconds",
  maintainSeconds: "seconds",
  apiTimeoutSeconds: "seconds"
};
var AUTOMATIC_FAILOVER = {
  enabled: "boolean",
  leaseSeconds: "seconds",
  renewSeconds: "seconds",
  renewDeadlineSeconds: "seconds",
  primaryRestartGraceSeconds: "seconds",
  minimumIntervalSeconds: "count",
  maximumLagBytes: "count",
  deadlineFile: "path"
};
var USERS = { superuser: "name", replication: "name", app: "string", network: "name" };
var FIELDS = {
  leaderRecord: "name",
  recordLabels: "labels",
  clusterSelector: "selector",
  statefulSet: "name",
  roleLabel: "name",
  primaryHost: "name",
  port: "port",
  pgdata: "path",
  socketDir: "path",
  recordFile: "path",
  eventFile: "path",
  startPlanFile: "path",
  restoreFrom: "boolean",
  appDatabase: "name",
  secretDir: "path",
  appSecretDir: "path",
  configDir: "path",
  tlsSecretDir: "optional-path",
  passwordFile: "path",
  tls: "boolean",
  synchronousReplicas: "count",
  postgresVersion: "count",
  peerDomain: "name"
};
var WHAT = {
  "string": "a string",
  "name": "a non-empty string without whitespace",
  "path": "an absolute path",
  "optional-path": 'an absolute path or ""',
  "selector": 'a label selector such as "app=pg,cluster=main"',
  "count": "an integer ≥ 0",
  "seconds": "a number of seconds > 0",
  "port": "an integer from 1 to 65535",
  "boolean": "true or false",
  "labels": "an object of string values"
};
function fits(kind, value) {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "name":
      return typeof value === "string" && /^\S+$/.test(value);
    case "path":
      return typeof value === "string" && /^\/\S*$/.test(value);
    case "optional-path":
      return value === "" || fits("path", value);
    case "selector":
      return typeof value === "string" && /^[^\s=,]+=[^\s=,]*(,[^\s=,]+=[^\s=,]*)*$/.test(value);
    case "count":
      return Number.isSafeInteger(value) && value >= 0;
    case "seconds":
      return typeof value === "number" && Number.isFinite(value) && value > 0;
    case "port":
      return Number.isInteger(value) && value >= 1 && value <= 65535;
    case "boolean":
      return typeof value === "boolean";
    default:
      return isObject(value) && Object.values(value).every((v) => typeof v === "string");
  }
}
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
function problemsOf(where, value, fields) {
  if (!isObject(value)) return [`${where.slice(0, -1)} must be an object`];
  const problems = [];
  for (const [name, kind] of Object.entries(fields)) {
    if (!(name in value)) problems.push(`${where}${name} is missing (${WHAT[kind]})`);
    else if (!fits(kind, value[name])) problems.push(`${where}${name} is ${JSON.stringify(value[name])}: it must be ${WHAT[kind]}`);
  }
  for (const name of Object.keys(value)) {
    if (!(name in fields)) problems.push(`${where}${name} is not a setting of this version of the agent`);
  }
  return problems;
}
function orderProblems(timing, failover) {
  const problems = [];
  if (timing.isolationFenceSeconds <= timing.pollSeconds) {
    problems.push("timing.isolationFenceSeconds must be longer than timing.pollSeconds: a primary would fence itself between two rounds");
  }
  if (failover.renewDeadlineSeconds <= failover.renewSeconds) {
    problems.push("automaticFailover.renewDeadlineSeconds must be longer than automaticFailover.renewSeconds: a primary would fence itself between two renewals");
  }
  if (failover.leaseSeconds <= failover.renewDeadlineSeconds) {
    problems.push("automaticFailover.leaseSeconds must be longer than automaticFailover.renewDeadlineSeconds: a replica could take over before the primary fenced itself");
  }
  return problems;
}
function parseSidecarConfig(text, source) {
  return readDocument(text, source, "sidecar configuration", SIDECAR_CONFIG_VERSION, (document) => {
    const { version: _version, users, timing, automaticFailover, ...rest } = document;
    const problems = [
      ...problemsOf("", rest, FIELDS),
      ...problemsOf("users.", users, USERS),
      ...problemsOf("timing.", timing, TIMING),
      ...problemsOf("automaticFailover.", automaticFailover, AUTOMATIC_FAILOVER)
    ];
    if (problems.length > 0) return problems;
    return orderProblems(timing, automaticFailover);
  });
}
function readDocument(text, source, what, version, check) {
  let document;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not JSON (${error.message}); it is written by the library at synth: synthesize the manifests again`);
  }
  const problems = [];
  if (!isObject(document)) {
    problems.push("the document must be a JSON object");
  } else if (document.version !== version) {
    problems.push(`version is ${JSON.stringify(document.version)}: this agent reads version ${version}`);
  } else {
    problems.push(...check(document));
  }
  if (problems.length > 0) {
    throw new Error(`${source}: invalid ${what}: ${problems.join("; ")}. The document is written by the library at synth: synthesize the manifests with the library version whose agent runs, and apply them again.`);
  }
  return document;
}
var FAILOVER_COMMAND = "failover";
var FAILOVER_JOB_CONFIG_VERSION = 1;
var JOB_FIELDS = {
  leaderRecord: "name",
  clusterSelector: "selector",
  jobSelector: "selector",
  roleLabel: "name",
  postgresContainer: "name",
  sidecarContainer: "name",
  nodeScript: "path",
  agent: "path",
  agentConfig: "path",
  synchronousReplicas: "count",
  isolationFenceSeconds: "seconds",
  apiTimeoutSeconds: "seconds"
};
var JOB_TIMEOUTS = {
  fenceSeconds: "seconds",
  settleSeconds: "seconds",
  reconnectSeconds: "seconds",
  switchoverSeconds: "seconds",
  followSeconds: "seconds",
  promoteSeconds: "seconds"
};
function parseFailoverJobConfig(text, source) {
  return readDocument(text, source, "failover job configuration", FAILOVER_JOB_CONFIG_VERSION, (document) => {
    const { version: _version, timeouts, ...rest } = document;
    return [...problemsOf("", rest, JOB_FIELDS), ...problemsOf("timeouts.", timeouts, JOB_TIMEOUTS)];
  });
}
var FAILOVER_RUN_VARIABLES = {
  FENCE_TIMEOUT_SECONDS: "fenceSeconds",
  SETTLE_SECONDS: "settleSeconds",
  RECONNECT_SECONDS: "reconnectSeconds",
  SWITCHOVER_TIMEOUT_SECONDS: "switchoverSeconds",
  FOLLOW_TIMEOUT_SECONDS: "followSeconds",
  PROMOTE_TIMEOUT_SECONDS: "promoteSeconds"
};
function failoverRunOf(env, timeouts) {
  const problems = [];
  const set = (name) => (env[name] ?? "") === "" ? void 0 : env[name];
  const target = set("FAILOVER_TARGET");
  if (target !== void 0 && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(target)) {
    problems.push(`FAILOVER_TARGET is ${JSON.stringify(target)}: it must name a pod of the cluster, such as postgres-cluster-1`);
  }
  const scale = set("SCALE_DOWN_TO");
  if (scale !== void 0 && !/^[1-9][0-9]*$/.test(scale)) {
    problems.push(`SCALE_DOWN_TO must be the number of pods you will scale to (1 or more), got ${JSON.stringify(scale)}`);
  }
  const accept = set("FAILOVER_ACCEPT_DATA_LOSS") ?? "false";
  if (accept !== "true" && accept !== "false") problems.push(`FAILOVER_ACCEPT_DATA_LOSS is ${JSON.stringify(accept)}: it must be true or false`);
  const overridden = { ...timeouts };
  for (const [variable, field] of Object.entries(FAILOVER_RUN_VARIABLES)) {
    const value = set(variable);
    if (value === void 0) continue;
    if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || Number(value) <= 0) problems.push(`${variable} is ${JSON.stringify(value)}: it must be a number of seconds > 0`);
    else overridden[field] = Number(value);
  }
  if (problems.length > 0) throw new Error(`invalid run of the failover job: ${problems.join("; ")}`);
  return {
    target,
    scaleDownTo: scale === void 0 ? void 0 : Number(scale),
    acceptDataLoss: accept === "true",
    timeouts: overridden
  };
}
var DUMP_COPY_COMMAND = "copy-dump";
var DUMP_COPY_CONFIG_VERSION = 1;
var DUMP_COPY_FIELDS = {
  dumpDir: "path",
  database: "name",
  retention: "count",
  bucket: "name",
  path: "path",
  endpoint: "name",
  port: "port",
  region: "name",
  uriStyle: "name",
  verifyTls: "boolean"
};
function parseDumpCopyConfig(text, source) {
  return readDocument(text, source, "dump copy configuration", DUMP_COPY_CONFIG_VERSION, (document) => {
    const { version: _version, ...rest } = document;
    const problems = problemsOf("", rest, DUMP_COPY_FIELDS);
    if (problems.length > 0) return problems;
    if (rest.uriStyle !== "host" && rest.uriStyle !== "path") problems.push(`uriStyle is ${JSON.stringify(rest.uriStyle)}: it must be "host" or "path"`);
    if (rest.retention < 1) problems.push("retention is 0: it must keep at least 1 dump");
    return problems;
  });
}

// src/agent/dump-copy.ts
var import_crypto = require("crypto");
var fs = __toESM(require("fs"));
var https = __toESM(require("https"));
var EMPTY_SHA256 = (0, import_crypto.createHash)("sha256").update("").digest("hex");
function uriEncode(text, keepSlash) {
  return Array.from(Buffer.from(text, "utf8")).map((byte) => {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || keepSlash && c === "/") return c;
    return `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }).join("");
}
function canonicalQuery(query = {}) {
  return Object.keys(query).sort().map((name) => `${uriEncode(name, false)}=${uriEncode(query[name], false)}`).join("&");
}
function authorization(request3, key, region, amzDate) {
  const headers = Object.entries(request3.headers).map(([name, value]) => [name.toLowerCase(), value.trim().replace(/\s+/g, " ")]).sort(([a], [b]) => a < b ? -1 : 1);
  const signedHeaders = headers.map(([name]) => name).join(";");
  const canonicalRequest = [
    request3.method,
    uriEncode(request3.path, true),
    canonicalQuery(request3.query),
    ...headers.map(([name, value]) => `${name}:${value}`),
    "",
    signedHeaders,
    request3.payloadSha256
  ].join("\n");
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, (0, import_crypto.createHash)("sha256").update(canonicalRequest).digest("hex")].join("\n");
  const hmac = (k, data) => (0, import_crypto.createHmac)("sha256", k).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${key.secret}`, day), region), "s3"), "aws4_request");
  const signature = (0, import_crypto.createHmac)("sha256", signingKey).update(stringToSign).digest("hex");
  return `AWS4-HMAC-SHA256 Credential=${key.id}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}
function amzDateOf(now) {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}
function isDumpOf(database, name) {
  return name.startsWith(`${database}-`) && /^\d{8}T\d{6}Z\.dump$/.test(name.slice(database.length + 1));
}
function newestDump(names, database) {
  return names.filter((name) => isDumpOf(database, name)).sort().pop();
}
function keysToRemove(keys, prefix, database, retention) {
  const dumps = keys.filter((key) => key.startsWith(prefix) && isDumpOf(database, key.slice(prefix.length))).sort().reverse();
  return dumps.slice(retention);
}
function partSizeOf(size) {
  const mib = 1024 * 1024;
  return Math.max(16 * mib, Math.ceil(size / 1e4 / mib) * mib);
}
function parseListing(xml) {
  const unescape = (text) => text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");
  const keys = Array.from(xml.matchAll(/<Key>([^<]*)<\/Key>/g), (m) => unescape(m[1]));
  const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1];
  return { keys, ...next !== void 0 && /<IsTruncated>true<\/IsTruncated>/.test(xml) ? { next: unescape(next) } : {} };
}
var S3_TIMEOUT_MS = 6e4;
var S3Bucket = class {
  constructor(config, key, now = () => /* @__PURE__ */ new Date(), timeoutMs = S3_TIMEOUT_MS) {
    this.config = config;
    this.key = key;
    this.now = now;
    this.timeoutMs = timeoutMs;
  }
  config;
  key;
  now;
  timeoutMs;
  get host() {
    return this.config.uriStyle === "host" ? `${this.config.bucket}.${this.config.endpoint}` : this.config.endpoint;
  }
  /** The request path of a key ("" for the bucket itself). */
  pathOf(key) {
    return `${this.config.uriStyle === "host" ? "" : `/${this.config.bucket}`}/${key}`;
  }
  /** One signed request; `body` is sent as it is (its SHA-256 given). An answer that is not 2xx is an Error naming it. */
  async request(method, key, query, body) {
    const payloadSha256 = body ? (0, import_crypto.createHash)("sha256").update(body).digest("hex") : EMPTY_SHA256;
    const amzDate = amzDateOf(this.now());
    const hostHeader = this.config.port === 443 ? this.host : `${this.host}:${this.config.port}`;
    const headers = { "host": hostHeader, "x-amz-content-sha256": payloadSha256, "x-amz-date": amzDate };
    const path4 = this.pathOf(key);
    headers.authorization = authorization({ method, path: path4, query, headers, payloadSha256 }, this.key, this.config.region, amzDate);
    const search = canonicalQuery(query);
    const answer = await new Promise((resolve, reject) => {
      const req = https.request({
        host: this.host,
        servername: /^\d+\.\d+\.\d+\.\d+$/.test(this.host) ? void 0 : this.host,
        port: this.config.port,
        method,
        path: `${uriEncode(path4, true)}${search ? `?${search}` : ""}`,
        headers: { ...headers, ...body ? { "content-length": String(body.length) } : {} },
        rejectUnauthorized: this.config.verifyTls,
        timeout: this.timeoutMs
      }, (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
    if (answer.status < 200 || answer.status > 299) {
      const code = /<Code>([^<]*)<\/Code>/.exec(answer.body)?.[1];
      throw new Error(`${method} ${path4}${search ? `?${search}` : ""} on ${hostHeader}: HTTP ${answer.status}${code ? ` ${code}` : ""}`);
    }
    return answer;
  }
  /** Puts a file under a key: one request, or a multipart upload for a file larger than one part. */
  async putFile(file, key) {
    const size = fs.statSync(file).size;
    const partSize = partSizeOf(size);
    const handle = fs.openSync(file, "r");
    try {
      const read = (offset, length) => {
        const buffer = Buffer.alloc(length);
        const got = fs.readSync(handle, buffer, 0, length, offset);
        if (got !== length) throw new Error(`${file}: read ${got} of ${length} bytes at ${offset}: the file changed while it was copied`);
        return buffer;
      };
      if (size <= partSize) {
        await this.request("PUT", key, {}, read(0, size));
        return;
      }
      const created = await this.request("POST", key, { uploads: "" });
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.body)?.[1];
      if (uploadId === void 0) throw new Error(`POST ${key}?uploads: no UploadId in the answer`);
      try {
        const etags = [];
        for (let offset = 0, part = 1; offset < size; offset += partSize, part++) {
          const answer2 = await this.request("PUT", key, { partNumber: String(part), uploadId }, read(offset, Math.min(partSize, size - offset)));
          etags.push(String(answer2.headers.etag ?? ""));
        }
        const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join("");
        const complete = `<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`;
        const answer = await this.request("POST", key, { uploadId }, Buffer.from(complete, "utf8"));
        if (/<Error>/.test(answer.body)) throw new Error(`completing the upload of ${key} failed: ${answer.body}`);
      } catch (error) {
        await this.request("DELETE", key, { uploadId }).catch(() => void 0);
        throw error;
      }
    } finally {
      fs.closeSync(handle);
    }
  }
  /** The keys under a prefix. */
  async list(prefix) {
    const keys = [];
    let token;
    do {
      const answer = await this.request("GET", "", { "list-type": "2", "prefix": prefix, ...token !== void 0 ? { "continuation-token": token } : {} });
      const page = parseListing(answer.body);
      keys.push(...page.keys);
      token = page.next;
    } while (token !== void 0);
    return keys;
  }
  /** Removes a key. */
  async remove(key) {
    await this.request("DELETE", key, {});
  }
};
function keyPrefixOf(path4) {
  const trimmed = path4.replace(/^\/+/, "");
  return trimmed === "" ? "" : `${trimmed}/`;
}
async function copyDump(config, io) {
  const dump = newestDump(io.listDumps(), config.database);
  if (dump === void 0) {
    io.log(`no dump of ${config.database} in ${config.dumpDir}: nothing to copy (did the backup container fail?)`);
    return 1;
  }
  const prefix = keyPrefixOf(config.path);
  const where = `bucket ${config.bucket} on ${config.endpoint}:${config.port}`;
  try {
    io.log(`copying ${dump} into ${where} as ${prefix}${dump}`);
    await io.bucket.putFile(`${config.dumpDir}/${dump}`, `${prefix}${dump}`);
    const remove = keysToRemove(await io.bucket.list(prefix), prefix, config.database, config.retention);
    for (const key of remove) {
      io.log(`removing ${key} from the bucket (keeping the newest ${config.retention})`);
      await io.bucket.remove(key);
    }
  } catch (error) {
    io.log(`copying ${dump} into ${where} failed: ${error.message}`);
    return 1;
  }
  io.log(`copy complete: ${prefix}${dump} is in ${where}`);
  return 0;
}

// src/agent/failover.ts
init_failover_target();
init_record();
init_transitions();
function decideFailoverJob(facts) {
  const record = facts.record;
  if (record === void 0) return { kind: "refuse", reason: "there is no leader record: the cluster has not been initialized yet" };
  if (record.state !== "stable" && record.job !== facts.jobPod && facts.recordedJobRunning) {
    return { kind: "refuse", reason: `another failover job (${record.job}) holds the leader record and is running; nothing was changed` };
  }
  if (record.state === "switching-over") {
    return {
      kind: "resume-switchover",
      previous: record.previous,
      target: record.target,
      reason: `job ${record.job} ended without finishing its failover (a switchover, ${record.previous} -> ${record.target}): waiting for the two pods' sidecars to finish it, or giving it back`
    };
  }
  const [previous, recordedTarget] = record.state === "stable" ? [record.primary, void 0] : [record.previous, record.target];
  const target = facts.requestedTarget ?? recordedTarget;
  const roleOf = (pod) => facts.pods.find((p) => p.pod === pod)?.role;
  if (record.state === "stable") {
    const nothing = nothingToDo(facts, previous, target);
    if (nothing !== void 0) return { kind: "nothing", reason: nothing };
  }
  if (target !== void 0) {
    const role = roleOf(target);
    if (role === void 0) return { kind: "refuse", reason: `FAILOVER_TARGET ${target} is not a pod of this cluster (pods: ${facts.pods.map((p) => p.pod).join(" ")})` };
    if (role !== "replica" && role !== "primary") return { kind: "refuse", reason: `FAILOVER_TARGET ${target} is not healthy (it is ${role}); choose another replica` };
  }
  if (target !== void 0 && target !== previous && roleOf(previous) === "primary") {
    const receiver = facts.pods.find((p) => p.pod === target).receiver;
    if (receiver !== "streaming") {
      return {
        kind: "refuse",
        reason: `FAILOVER_TARGET ${target} does not stream from ${previous} (its WAL receiver is ${receiver}): it could not receive the primary's last WAL, so nothing was changed; run the job again once it streams (its pod is Ready)`
      };
    }
    const next2 = beginSwitchover(record, { previous, target, job: facts.jobPod });
    return { kind: "switchover", record: next2, reason: `a planned switchover: ${previous} serves; promoting ${target} once it has received ${previous}'s shutdown checkpoint (${describeRecord(next2)})` };
  }
  const next = beginFailover(record, { previous, target, job: facts.jobPod });
  const unreachable = roleOf(previous) === "unreachable";
  return {
    kind: "failover",
    record: next,
    awaitIsolationFence: unreachable,
    reason: `${record.state === "failing-over" ? `job ${record.job} ended without finishing its failover: completing or undoing it; ` : ""}an unplanned failover from ${previous}${unreachable ? ", which cannot be reached and may still be running" : ""} (${describeRecord(next)})`
  };
}
function nothingToDo(facts, primary, target) {
  const node = facts.pods.find((p) => p.pod === primary);
  if (node?.role === "primary" && (target === void 0 || target === primary)) {
    return parseLsn(node.lsn) !== void 0 ? `primary ${primary} is healthy: nothing to do. For a planned switchover, set FAILOVER_TARGET to the replica to promote.` : `primary ${primary} is running but does not answer queries (too many clients?): not failing over a live primary. To move it anyway, set FAILOVER_TARGET: a switchover fences it first.`;
  }
  if (node?.role === "starting" && target === void 0) {
    return `primary ${primary} is starting (crash recovery): not failing over. Run the job again if it does not come back.`;
  }
  return void 0;
}
function decideSwitchoverRound(facts) {
  const { record, previous, target } = facts;
  if (record !== "unread") {
    if (record === void 0) return { kind: "refuse", reason: "the leader record was deleted while this job worked" };
    if (record.state === "stable" && record.primary === target) return { kind: "switched", reason: `${target} is the primary (${describeRecord(record)})` };
    if (record.state === "stable" && record.primary === previous && record.epoch === facts.epoch + 1) {
      return {
        kind: "given-back",
        reason: `switchover to ${target}: ${previous} gave it back (${describeRecord(record)}), as it does when ${target} does not stream from it (${target} could not have received its last WAL); run the job again once ${target} streams`
      };
    }
    if (record.state !== "switching-over" || record.job !== facts.job) {
      return { kind: "refuse", reason: `the leader record changed while this job worked (${describeRecord(record)}): someone else acted; run the job again to decide anew` };
    }
    if (record.checkpoint !== void 0 && facts.announced === void 0) {
      return { kind: "fenced", checkpoint: record.checkpoint, reason: `${previous} is fenced: its shutdown checkpoint is ${record.checkpoint}` };
    }
  }
  if (facts.takeDeadline === void 0 && facts.now >= facts.fenceDeadline) {
    return {
      kind: "give-back",
      reason: `${previous} did not record a shutdown checkpoint within ${facts.fenceSeconds}s (it may be cut off from the API, or not shut down cleanly)`
    };
  }
  if (facts.takeDeadline !== void 0 && facts.now >= facts.takeDeadline) {
    return {
      kind: "give-back",
      reason: `switchover to ${target}: it had not received the old primary's shutdown checkpoint ${facts.announced} after ${facts.switchoverSeconds}s; promoting it would lose commits`
    };
  }
  return { kind: "wait" };
}

// src/agent/failover-job-agent.ts
init_failover_target();
init_record();
init_transitions();
var EXEC_MS = 2e4;
var FENCE_EXEC_MS = 7e4;
var WRITE_ATTEMPTS = 5;
function parseStatusLine(line) {
  const [role, lsn, receiver, timeline, checkpoint2, ...rest] = line.trim().split(/\s+/);
  const roles = ["primary", "replica", "starting", "down", "empty", "unreachable"];
  if (rest.length > 0 || checkpoint2 === void 0 || !roles.includes(role) || !/^\d+$/.test(timeline)) return void 0;
  return { role, lsn, receiver, timeline: Number(timeline), checkpoint: checkpoint2 };
}
function isFenced(state) {
  return state !== void 0 && (state.role === "down" || state.role === "replica") && parseLsn(state.checkpoint) !== void 0 && state.checkpoint !== "0/0";
}
var NOT_ASKED = { role: "unreachable", lsn: "?", receiver: "none", timeline: 0, checkpoint: "-" };
var Stop = class extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
  code;
};
async function settledBoth(first, second) {
  const [a, b] = await Promise.allSettled([first, (async () => second())()]);
  if (a.status === "rejected") throw a.reason;
  if (b.status === "rejected") throw b.reason;
  return [a.value, b.value];
}
var refuse2 = (message) => new Stop(1, `REFUSED: ${message}`);
var unfinished = (message) => new Stop(3, `UNFINISHED: ${message}`);
var FailoverJobAgent = class {
  constructor(config, run, jobPod, kube, clock, log) {
    this.config = config;
    this.run = run;
    this.jobPod = jobPod;
    this.kube = kube;
    this.clock = clock;
    this.log = log;
    this.target = run.target;
  }
  config;
  run;
  jobPod;
  kube;
  clock;
  log;
  record;
  resourceVersion = "";
  pods = [];
  apiView = /* @__PURE__ */ new Map();
  states = /* @__PURE__ */ new Map();
  fenced = [];
  previous = "";
  target;
  /** Runs the job: its exit code. */
  async main() {
    try {
      await this.decideAndAct();
      return 0;
    } catch (error) {
      if (error instanceof Stop) {
        this.log(error.message);
        return error.code;
      }
      this.log(`STOPPED: ${error.stack ?? String(error)}`);
      return 1;
    }
  }
  async decideAndAct() {
    const [read, listed] = await settledBoth(this.readRecord(), () => this.kube.listPods(this.config.clusterSelector));
    if (read !== void 0) throw refuse2(`cannot read the leader record ${this.config.leaderRecord}: ${read}`);
    const record = this.record;
    if (record === void 0) throw refuse2(`there is no leader record (${this.config.leaderRecord}): the cluster has not been initialized yet`);
    this.log(`leader record: ${describeRecord(record)}`);
    const recordedJobRunning = record.state !== "stable" && record.job !== this.jobPod && await this.jobRunning(record.job);
    if (record.state === "switching-over") {
      const plan4 = decideFailoverJob({ jobPod: this.jobPod, record, recordedJobRunning, requestedTarget: this.target, pods: [] });
      if (plan4.kind === "refuse") throw refuse2(plan4.reason);
      this.previous = record.previous;
      this.target = record.target;
      this.log(plan4.reason);
      await this.awaitSwitchover(record.job);
      this.fenced.push(this.previous);
      await this.listPods();
      await this.finish();
      return;
    }
    if (record.state === "failing-over") {
      if (recordedJobRunning) throw refuse2(`another failover job (${record.job}) holds the leader record and is running; nothing was changed`);
      this.previous = record.previous;
      this.target ??= record.target;
    } else {
      this.previous = record.primary;
    }
    this.takePods(listed);
    if (this.run.scaleDownTo !== void 0) await this.planScaleDown(record);
    const target = this.target;
    if (record.state === "stable" && target !== void 0 && target !== this.previous && this.pods.includes(target) && this.pods.includes(this.previous)) {
      if (!this.states.has(this.previous) && this.switchoverReadyByApi(target)) {
        this.states.set(this.previous, { role: "primary", lsn: "?", receiver: "none", timeline: 0, checkpoint: "-" });
        this.states.set(target, { role: "replica", lsn: "?", receiver: "streaming", timeline: 0, checkpoint: "-" });
        this.log(`the API shows ${this.previous} serving as the primary and ${target} as a streaming replica`);
      } else {
        await this.survey([this.previous, target]);
        if (this.stateOf(this.previous).role !== "primary" || this.stateOf(target).role !== "replica") await this.surveyRest();
      }
    } else {
      await this.survey(this.pods);
    }
    this.log(`cluster: ${this.describe()}`);
    const plan3 = decideFailoverJob({
      jobPod: this.jobPod,
      record,
      recordedJobRunning,
      requestedTarget: this.target,
      pods: this.pods.map((pod) => ({ pod, role: this.stateOf(pod).role, lsn: this.stateOf(pod).lsn, receiver: this.stateOf(pod).receiver }))
    });
    switch (plan3.kind) {
      case "nothing":
        this.log(plan3.reason);
        this.log(`${record.primary} is the only primary`);
        return;
      case "switchover":
        await this.writeRecord(plan3.record);
        this.log(`took the leader record: ${describeRecord(this.record)}`);
        await this.label(this.previous, `could not remove the ${this.config.roleLabel} label of ${this.previous} (its sidecar removes it too)`);
        this.log(`promoting ${plan3.record.target} once it has received the old primary's shutdown checkpoint: ${this.previous} fences itself and records the checkpoint, then ${plan3.record.target}'s sidecar records it as the primary and promotes it`);
        await this.awaitSwitchover(this.jobPod);
        this.fenced.push(this.previous);
        break;
      case "failover":
        await this.writeRecord(plan3.record);
        this.log(`took the leader record: ${describeRecord(this.record)}`);
        await this.surveyRest();
        await this.failover();
        await this.promote();
        break;
      default:
        throw refuse2(plan3.reason);
    }
    await this.finish();
  }
  // ---- the record ----
  /** Reads the record into this.record; undefined, or why it cannot be read. */
  async readRecord() {
    const got = await this.kube.getLease(this.config.leaderRecord);
    if (!got.ok) return got.message;
    if (got.value === void 0) {
      this.record = void 0;
      return void 0;
    }
    const decoded = decodeRecord(got.value);
    if (!decoded.ok) return decoded.error;
    this.record = decoded.record;
    this.resourceVersion = decoded.resourceVersion;
    return void 0;
  }
  /**
   * Compare-and-swap: 0 written, 2 the record changed (or is gone) since it was read, 1 another failure (its message in
   * `error`). A conflict with a change that left every field of the record as read (the primary renewing its lease
   * with automatic failover, someone's annotation) is no conflict with this change: it is sent again on the Lease's new
   * resourceVersion, WRITE_ATTEMPTS times at most.
   */
  async tryWrite(next) {
    const read = JSON.stringify(encodeAnnotations(this.record));
    for (let attempt = 1; ; attempt++) {
      const written = await this.kube.patchLease(this.config.leaderRecord, encodeRecordPatch(next, this.resourceVersion));
      if (written.ok) {
        const decoded = decodeRecord(written.value);
        this.record = next;
        if (decoded.ok) this.resourceVersion = decoded.resourceVersion;
        return { code: 0 };
      }
      if (written.status !== 409 && written.status !== 404) return { code: 1, error: written.message };
      if (attempt === WRITE_ATTEMPTS) return { code: 2, error: written.message };
      const failed = await this.readRecord();
      if (failed !== void 0) return { code: 1, error: failed };
      if (this.record === void 0 || JSON.stringify(encodeAnnotations(this.record)) !== read) return { code: 2, error: written.message };
    }
  }
  /** Writes the record, or stops: a conflict means that someone else acted meanwhile (update_record). */
  async writeRecord(next) {
    const written = await this.tryWrite(next);
    if (written.code === 0) return;
    if (written.code === 2) throw await this.changedMeanwhile();
    throw refuse2(`cannot update the leader record: ${written.error}`);
  }
  async changedMeanwhile() {
    await this.readRecord();
    return refuse2(`the leader record changed while this job worked (${describeRecord(this.record)}): someone else acted; run the job again to decide anew`);
  }
  // ---- the pods ----
  /** The cluster's pods, with their role label and readiness as the API reports them. */
  async listPods() {
    this.takePods(await this.kube.listPods(this.config.clusterSelector));
  }
  takePods(listed) {
    if (!listed.ok) throw refuse2(`cannot list the pods of the cluster: ${listed.message}`);
    this.pods = listed.value.map((pod) => pod.name);
    for (const pod of listed.value) this.apiView.set(pod.name, { label: pod.labels[this.config.roleLabel], ready: pod.ready });
    if (this.pods.length === 0) throw refuse2(`no pods match ${this.config.clusterSelector}`);
  }
  /** Whether the API shows the recorded primary labeled primary and ready, the target labeled replica and ready. */
  switchoverReadyByApi(target) {
    const primary = this.apiView.get(this.previous);
    const replica = this.apiView.get(target);
    return primary.label === "primary" && primary.ready && replica.label === "replica" && replica.ready;
  }
  async jobRunning(job) {
    const listed = await this.kube.listPods(this.config.jobSelector, "status.phase=Running");
    return !listed.ok || listed.value.some((pod) => pod.name === job);
  }
  async onNode(pod, command) {
    return this.kube.exec(pod, this.config.postgresContainer, ["bash", this.config.nodeScript, command], EXEC_MS);
  }
  /** A pod's status; one that cannot be asked is down only when the kubelet says its container is not running (node_state). */
  async nodeState(pod) {
    const asked = await this.onNode(pod, "status");
    const state = asked.ok && asked.value.code === 0 ? parseStatusLine(asked.value.stdout) : void 0;
    if (state !== void 0) return state;
    const got = await this.kube.getPod(pod);
    const stopped = got.ok && got.value !== void 0 && !got.value.runningContainers.includes(this.config.postgresContainer);
    return { role: stopped ? "down" : "unreachable", lsn: "0/0", receiver: "none", timeline: 0, checkpoint: "-" };
  }
  async survey(pods) {
    const states = await Promise.all(pods.map((pod) => this.nodeState(pod)));
    pods.forEach((pod, i) => this.states.set(pod, states[i]));
  }
  /** Asks the pods that have not been asked yet. */
  async surveyRest() {
    await this.survey(this.pods.filter((pod) => !this.states.has(pod)));
  }
  /** The whole survey again: the pods as listed now (as listed last if the API does not answer), each asked. */
  async surveyAll() {
    const listed = await this.kube.listPods(this.config.clusterSelector);
    if (listed.ok && listed.value.length > 0) this.pods = listed.value.map((pod) => pod.name);
    else this.log(`cannot list the pods of the cluster (${listed.ok ? "none listed" : listed.message}): asking those listed before`);
    await this.survey(this.pods);
  }
  describe() {
    return this.pods.map((pod) => `${pod}=${this.states.get(pod)?.role ?? "?"}@${this.states.get(pod)?.lsn ?? "?"}`).join(" ");
  }
  /** What a pod answered last, or NOT_ASKED. */
  stateOf(pod) {
    return this.states.get(pod) ?? NOT_ASKED;
  }
  withRole(role) {
    return this.pods.filter((pod) => this.stateOf(pod).role === role);
  }
  streaming() {
    return this.withRole("replica").filter((pod) => this.stateOf(pod).receiver === "streaming");
  }
  candidates() {
    return this.pods.map((pod) => ({ pod, role: this.stateOf(pod).role, lsn: this.stateOf(pod).lsn, timeline: this.stateOf(pod).timeline }));
  }
  /** Removes a pod's role label; logs `failure` when it cannot. */
  async label(pod, failure) {
    const removed = await this.kube.labelPod(pod, this.config.roleLabel, null);
    if (!removed.ok && removed.status !== 404) this.log(failure);
  }
  async roleLabelOf(pod) {
    const got = await this.kube.getPod(pod);
    return got.ok ? got.value?.labels[this.config.roleLabel] : void 0;
  }
  /** Waits (polling every `everyMs`) until `done` holds or `seconds` have passed on the monotonic clock: whether it held. */
  async until(seconds, everyMs, done) {
    const deadline = this.clock.monotonic() + seconds;
    for (; ; ) {
      if (await done()) return true;
      if (this.clock.monotonic() >= deadline) return false;
      await this.clock.sleep(everyMs);
    }
  }
  // ---- fencing ----
  /** Tells a pod's sidecar to fence it, and waits until its status says it is fenced (fence). */
  async fence(pod) {
    this.log(`fencing ${pod}: removing its ${this.config.roleLabel} label, then restarting it as a replica`);
    await this.kube.labelPod(pod, this.config.roleLabel, null);
    const agent = async (command, ms) => {
      const ran = await this.kube.exec(pod, this.config.sidecarContainer, ["node", this.config.agent, command, this.config.agentConfig], ms);
      return ran.ok && ran.value.code === 0 ? parseStatusLine(ran.value.stdout.trim().split("\n").pop()) : void 0;
    };
    let state = await agent("fence", FENCE_EXEC_MS);
    const fenced = isFenced(state) || await this.until(this.run.timeouts.fenceSeconds, 100, async () => {
      state = await agent("status", EXEC_MS) ?? await this.nodeState(pod);
      return isFenced(state);
    });
    if (!fenced) return false;
    state = state;
    this.states.set(pod, state);
    this.fenced.push(pod);
    this.log(`${pod} is fenced (now ${state.role}, shutdown checkpoint ${state.checkpoint})`);
    return true;
  }
  // ---- a planned switchover ----
  /**
   * Waits for the sidecars to finish the switchover in the record: the old primary's shutdown checkpoint within the
   * fence timeout, then the target named as the primary within the switchover timeout; else gives it back.
   */
  async awaitSwitchover(job) {
    const timeouts = this.run.timeouts;
    const epoch = this.record.epoch;
    const fenceDeadline2 = this.clock.monotonic() + timeouts.fenceSeconds;
    let takeDeadline;
    let announced;
    for (; ; ) {
      const record = await this.readRecord() === void 0 ? this.record : "unread";
      const plan3 = decideSwitchoverRound({
        job,
        previous: this.previous,
        target: this.target,
        epoch,
        record,
        announced,
        now: this.clock.monotonic(),
        fenceDeadline: fenceDeadline2,
        takeDeadline,
        fenceSeconds: timeouts.fenceSeconds,
        switchoverSeconds: timeouts.switchoverSeconds
      });
      switch (plan3.kind) {
        case "switched":
          this.log(plan3.reason);
          return;
        case "given-back":
          return this.givenBack(plan3.reason);
        case "refuse":
          throw refuse2(plan3.reason);
        case "give-back":
          return this.giveBack(this.record, plan3.reason);
        case "fenced":
          this.log(plan3.reason);
          announced = plan3.checkpoint;
          takeDeadline = this.clock.monotonic() + timeouts.switchoverSeconds;
          break;
      }
      await this.clock.sleep(20);
    }
  }
  /** Gives the switchover `record` up: the record names the old primary again, unless the target named itself first (give_back). */
  async giveBack(record, reason) {
    const written = await this.tryWrite(giveBack(record));
    if (written.code === 2) {
      await this.readRecord();
      if (this.record?.state === "stable" && this.record.primary === this.target) {
        this.log(`${this.target} recorded itself as the primary just now: the switchover stands`);
        return;
      }
      throw await this.changedMeanwhile();
    }
    if (written.code !== 0) throw refuse2(`cannot update the leader record: ${written.error}`);
    this.log(`the leader record names ${this.previous} again (${describeRecord(this.record)})`);
    return this.givenBack(reason);
  }
  /** The record names the old primary again: waits for its label, then refuses with `reason`. */
  async givenBack(reason) {
    const back = await this.until(this.run.timeouts.fenceSeconds, 100, async () => await this.roleLabelOf(this.previous) === "primary");
    if (!back) throw refuse2(`${reason}; the leader record names ${this.previous} again, which is not serving yet: its sidecar and entrypoint make it the primary`);
    throw refuse2(`${reason}; ${this.previous} is the primary again, nothing was lost`);
  }
  // ---- an unplanned failover ----
  /** Refusing with the old primary down: the record names it again, so that it is the primary when it returns (give_back_down). */
  async giveBackDown(reason) {
    await this.writeRecord(giveBack(this.record));
    throw refuse2(`${reason}; the leader record names ${this.previous} again, nothing was changed`);
  }
  /** An unplanned failover: no primary may run but the one this job promotes. Chooses this.target. */
  async failover() {
    if (this.states.get(this.previous)?.role === "unreachable") {
      const wait = 2 * this.config.isolationFenceSeconds;
      this.log(`${this.previous} cannot be reached and may still be running: waiting ${wait}s, by when a primary that cannot read the leader record has fenced itself and one that can has seen that it is no longer named`);
      await this.clock.sleep(wait * 1e3);
      await this.survey(this.pods);
    }
    for (const pod of this.pods) {
      const role = this.stateOf(pod).role;
      if ((role === "primary" || role === "starting") && pod !== this.target && !await this.fence(pod)) {
        throw refuse2(`${pod} is still a primary ${this.run.timeouts.fenceSeconds}s after fencing`);
      }
    }
    if (this.stateOf(this.target).role === "primary") {
      this.log(`${this.target} was promoted already (by the job that ended); recording it`);
      return;
    }
    await this.settle();
    const choice = chooseFailoverTarget({
      candidates: this.candidates(),
      previous: this.previous,
      syncReplicas: this.config.synchronousReplicas,
      syncSet: this.record.sync,
      acceptDataLoss: this.run.acceptDataLoss,
      requestedTarget: this.target,
      scaleDownTo: this.run.scaleDownTo
    });
    if (choice.kind === "refuse") return this.giveBackDown(choice.reason);
    if (choice.warning !== void 0) this.log(`WARNING: ${choice.warning}`);
    this.target = choice.target;
  }
  /**
   * With the primary lost, replicas may still be writing WAL that was on its way: compare them once their WAL receivers
   * have let go of the lost primary and their positions stop moving. A receiver that still streams then is ended; one
   * that streams again after that has found a primary behind the write Service: the old one, alive and not fenced.
   */
  async settle() {
    if (this.streaming().length === 0) return;
    let before = this.describe();
    const settled = await this.until(this.run.timeouts.settleSeconds, 0, async () => {
      await this.clock.sleep(200);
      await this.survey(this.pods);
      const same = this.describe() === before && this.streaming().length === 0;
      before = this.describe();
      return same;
    });
    if (settled) return;
    this.log(`replicas still receive after ${this.run.timeouts.settleSeconds}s (${this.streaming().join(" ")}): ending their WAL receivers`);
    for (const pod of this.streaming()) {
      const ended = await this.onNode(pod, "reconnect");
      if (!ended.ok || ended.value.code !== 0) this.log(`could not end the WAL receiver of ${pod}`);
    }
    const stopped = await this.until(this.run.timeouts.reconnectSeconds, 0, async () => {
      await this.clock.sleep(500);
      await this.survey(this.pods);
      return this.streaming().length === 0;
    });
    if (stopped) return;
    await this.giveBackDown(`replicas stream again after their WAL receivers were ended (${this.streaming().join(" ")}): a primary still serves behind the write Service, most likely ${this.previous}, alive and not fenced; promoting now would make two primaries. Find out why it did not fence itself (its sidecar and heartbeat fence), stop it, and run the job again`);
  }
  /** With SCALE_DOWN_TO: a target that stays, or a refusal (plan_scale_down). */
  async planScaleDown(record) {
    const scaleDownTo = this.run.scaleDownTo;
    if (this.target !== void 0) {
      if (ordinalOf(this.target) >= scaleDownTo) {
        throw refuse2(`FAILOVER_TARGET ${this.target} goes away when scaling to ${scaleDownTo} pods; choose one of: ` + this.pods.filter((pod) => ordinalOf(pod) < scaleDownTo).join(" "));
      }
      return;
    }
    if (record.state !== "stable") return;
    if (ordinalOf(this.previous) >= scaleDownTo) await this.survey(this.pods);
    const choice = chooseScaleDownTarget(this.candidates(), this.previous, scaleDownTo);
    if (choice.kind === "refuse") throw refuse2(choice.reason);
    this.log(choice.reason);
    if (choice.kind === "promote") this.target = choice.target;
  }
  /** Names the chosen replica in the record: its sidecar promotes and labels it (promote). */
  async promote() {
    const target = this.target;
    await this.writeRecord(recordTarget(this.record, target));
    if (this.previous !== target) await this.label(this.previous, `could not remove the ${this.config.roleLabel} label of ${this.previous}`);
    const others = this.pods.filter((pod) => pod !== target);
    const sync = this.config.synchronousReplicas > 0 ? [...others].sort() : [];
    if (this.stateOf(target).role !== "primary") {
      this.log(`promoting ${target} (WAL ${this.stateOf(target).lsn}): the leader record names it, and its sidecar promotes it`);
    }
    await this.writeRecord(completeFailover(this.record, sync));
    this.log(`${target} is the primary in the leader record (${describeRecord(this.record)})`);
    const serves = await this.until(this.run.timeouts.promoteSeconds, 20, async () => await this.roleLabelOf(target) === "primary");
    if (!serves) {
      throw unfinished(`${target} is the primary in the leader record but does not serve as one ${this.run.timeouts.promoteSeconds}s later: its sidecar promotes it when it can (kubectl logs ${target} -c ${this.config.sidecarContainer} says why not yet), and no other pod may be a primary meanwhile, so writes wait for it. If it cannot start, run the job again with FAILOVER_TARGET set to a healthy replica`);
    }
    this.log(`${target} serves as the primary`);
  }
  // ---- after the new primary is recorded ----
  /** No other primary may run, and the replicas follow the new one (finish). */
  async finish() {
    const target = this.target;
    await this.surveyAll();
    for (const pod of this.withRole("primary")) {
      if (pod !== target) {
        this.log(`${pod} is a primary too: fencing it`);
        await this.fence(pod);
      }
    }
    await this.waitForFollowers(target);
    this.log(`done: ${target} is the primary; cluster: ${this.describe()}`);
  }
  /** Replicas that do not stream the target's timeline. */
  lagging(target) {
    const timeline = this.stateOf(target).timeline;
    return this.withRole("replica").filter((pod) => pod !== target && (this.stateOf(pod).receiver !== "streaming" || this.stateOf(pod).timeline !== timeline));
  }
  /**
   * Every reachable replica should stream the new primary's timeline. A WAL receiver that does not is told to connect
   * again every few seconds; a replica that still cannot (it replayed WAL the new primary never had) is restarted,
   * and its entrypoint rewinds it.
   */
  async waitForFollowers(target) {
    const follow = this.run.timeouts.followSeconds;
    let nextNudge = this.clock.monotonic() + 3;
    let lagging = [];
    const followed = await this.until(follow, 500, async () => {
      await this.surveyAll();
      lagging = this.lagging(target);
      const restarting = this.fenced.filter((pod) => ["down", "starting", "empty"].includes(this.stateOf(pod).role));
      if (lagging.length === 0 && restarting.length === 0) return true;
      if (this.clock.monotonic() >= nextNudge) {
        for (const pod of lagging) {
          this.log(`${pod} does not stream timeline ${this.stateOf(target).timeline} yet (receiver ${this.stateOf(pod).receiver}): reconnecting its WAL receiver`);
          await this.onNode(pod, "reconnect");
        }
        nextNudge = this.clock.monotonic() + 3;
      }
      return false;
    });
    if (followed) return;
    const restarted = [...lagging];
    for (const pod of restarted) {
      this.log(`${pod} does not stream timeline ${this.stateOf(target).timeline} from ${target}: restarting it so that its entrypoint rewinds it`);
      await this.onNode(pod, "restart");
    }
    const watched = /* @__PURE__ */ new Set([...restarted, ...this.fenced]);
    const rejoined = await this.until(2 * follow, 0, async () => {
      await this.clock.sleep(1e3);
      await this.surveyAll();
      lagging = this.pods.filter((pod) => pod !== target && (this.stateOf(pod).role === "replica" ? this.lagging(target).includes(pod) : watched.has(pod)));
      return lagging.length === 0;
    });
    if (rejoined) return;
    throw unfinished(`${target} is the primary and takes writes, but ${lagging.join(" ")} do not stream from it ${Number((follow * 3).toFixed(3))}s later (${this.describe()}): kubectl logs <pod> -c postgres says what its entrypoint waits for; until they stream, the cluster has fewer replicas (in synchronous mode, writes may wait)`);
  }
};

// src/agent/main.ts
init_kube();
var postgresModule = () => (init_postgres(), __toCommonJS(postgres_exports));
var sidecarModule = () => (init_sidecar_agent(), __toCommonJS(sidecar_agent_exports));
function logLine(name, message, now) {
  return `${now.toISOString()} ${name}: ${message}
`;
}
var COMMANDS = ["sidecar", "fence", "status"];
function usageProblem(args) {
  if (args.length === 2 && COMMANDS.includes(args[0])) return void 0;
  if (args.length === 1 && (args[0] === FAILOVER_COMMAND || args[0] === DUMP_COPY_COMMAND)) return void 0;
  return `usage: agent.js ${COMMANDS.join("|")} <configuration file>, or agent.js ${FAILOVER_COMMAND}|${DUMP_COPY_COMMAND} (got: ${args.length === 0 ? "no arguments" : args.join(" ")})`;
}
async function failoverJob(podName, env, fail) {
  let job;
  try {
    const config = parseFailoverJobConfig(env.FAILOVER_JOB_CONFIG ?? "", "FAILOVER_JOB_CONFIG");
    const run = failoverRunOf(env, config.timeouts);
    const kube = new KubeClient({ ...inClusterOptions(env, config.apiTimeoutSeconds * 1e3), userAgent: "cdk8s-postgres-failover-job" });
    job = new FailoverJobAgent(config, run, podName, kube, {
      monotonic: () => performance.now() / 1e3,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms))
    }, (message) => process.stderr.write(logLine("failover", message, /* @__PURE__ */ new Date())));
  } catch (error) {
    fail(error.message);
    return 2;
  }
  return job.main();
}
async function dumpCopy(env, log) {
  let config;
  try {
    config = parseDumpCopyConfig(env.DUMP_COPY_CONFIG ?? "", "DUMP_COPY_CONFIG");
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
      if ((env[name] ?? "") === "") throw new Error(`${name} is not set: it comes from the Secret of backupS3.credentials, which must have the key`);
    }
  } catch (error) {
    log(error.message);
    return 2;
  }
  const bucket = new S3Bucket(config, { id: env.AWS_ACCESS_KEY_ID, secret: env.AWS_SECRET_ACCESS_KEY });
  return copyDump(config, { listDumps: () => fs6.readdirSync(config.dumpDir), bucket, log });
}
async function nodeCommand(command, config, log) {
  const { fastShutdown: fastShutdown2, writeStandbySignal: writeStandbySignal2 } = postgresModule();
  const { nodeStatus: nodeStatus2 } = sidecarModule();
  if (command === "fence") {
    writeStandbySignal2(config.pgdata);
    log("fenced: standby.signal written; stopping PostgreSQL (fast) so that it restarts as a replica");
    if (!await fastShutdown2(config.pgdata, 6e4)) {
      log("the fast shutdown did not finish within 60s");
      return 1;
    }
  }
  const line = await nodeStatus2(config);
  if (line === void 0) {
    log(`cannot read ${config.pgdata}/global/pg_control`);
    return 1;
  }
  process.stdout.write(`${line}
`);
  return 0;
}
async function main(args) {
  const problem = usageProblem(args);
  const podName = process.env.POD_NAME ?? process.env.HOSTNAME ?? "";
  const write = (name) => (message) => process.stderr.write(logLine(name, message, /* @__PURE__ */ new Date()));
  const fail = write(`${podName || "postgres-cluster"} agent`);
  if (problem !== void 0) {
    fail(problem);
    return 2;
  }
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(podName)) {
    fail(`POD_NAME is ${JSON.stringify(podName)}: it must name this pod (set it from the downward API, metadata.name)`);
    return 2;
  }
  if (args[0] === FAILOVER_COMMAND) return failoverJob(podName, process.env, fail);
  if (args[0] === DUMP_COPY_COMMAND) return dumpCopy(process.env, write(`${podName} copy-dump`));
  let agent;
  try {
    const config = parseSidecarConfig(fs6.readFileSync(args[1], "utf8"), args[1]);
    if (args[0] !== "sidecar") return await nodeCommand(args[0], config, write(`${podName} pg-node`));
    const kube = new KubeClient(inClusterOptions(process.env, config.timing.apiTimeoutSeconds * 1e3));
    const { SidecarAgent: SidecarAgent2 } = sidecarModule();
    agent = new SidecarAgent2(config, podName, kube, {
      monotonic: () => performance.now() / 1e3,
      wallMicros: () => Date.now() * 1e3,
      uptime: () => Number(fs6.readFileSync("/proc/uptime", "utf8").split(" ")[0]),
      log: write(`${podName} role-labeler`)
    });
  } catch (error) {
    fail(error.message);
    return 2;
  }
  const stop = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => stop.abort());
  await agent.run(stop.signal);
  return 0;
}
if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
    process.stderr.write(logLine(`${process.env.POD_NAME ?? "postgres-cluster"} agent`, `stopped: ${error.stack ?? error.message}`, /* @__PURE__ */ new Date()));
    process.exit(1);
  });
}
// Annotate the CommonJS export names for ESM import in node:
0 && (module.exports = {
  COMMANDS,
  logLine,
  usageProblem
});
