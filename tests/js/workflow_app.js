// A workflow app on the official Dapr JavaScript SDK (@dapr/dapr), run under `tether run` by
// tests/js/test_js_sdk.py. Each scenario prints one line "ok <name> <result>" or
// "FAIL <name> <why>"; the process exits non-zero when any failed.
"use strict";

const {
  CommunicationProtocolEnum,
  DaprClient,
  DaprWorkflowClient,
  WorkflowRuntime,
  WorkflowRuntimeStatus,
} = require("@dapr/dapr");

const host = "127.0.0.1";
const grpcPort = process.env.DAPR_GRPC_PORT;
const httpPort = process.env.DAPR_HTTP_PORT;
const { LogLevel } = require("@dapr/dapr");
const quiet = { logger: { level: LogLevel.Error } }; // result lines start with "ok " or "FAIL "

const hello = async (_ctx, name) => `Hello, ${name}!`;
const square = async (_ctx, n) => n * n;

async function* chain(ctx, _input) {
  const out = [];
  for (const name of ["Tokyo", "Seattle", "London"]) {
    out.push(yield ctx.callActivity(hello, name));
  }
  return out;
}

async function* fanOut(ctx, n) {
  const tasks = [];
  for (let i = 1; i <= n; i++) tasks.push(ctx.callActivity(square, i));
  const results = yield ctx.whenAll(tasks);
  return results.reduce((a, b) => a + b, 0);
}

async function* doubler(ctx, x) {
  return (yield ctx.callActivity(square, x)) * 2;
}

async function* parent(ctx, x) {
  const child = yield ctx.callChildWorkflow(doubler, x, `${ctx.getWorkflowInstanceId()}-child`);
  return { child };
}

async function* approval(ctx, timeoutSeconds) {
  const event = ctx.waitForExternalEvent("approval");
  const timeout = ctx.createTimer(timeoutSeconds);
  const winner = yield ctx.whenAny([event, timeout]);
  if (winner === timeout) return "timed out";
  return `approved:${event.getResult()}`;
}

async function* sleeper(ctx, _input) {
  const before = ctx.getCurrentUtcDateTime().getTime();
  yield ctx.createTimer(1);
  const after = ctx.getCurrentUtcDateTime().getTime();
  return after - before >= 1000 ? "timer fired" : `too early: ${after - before} ms`;
}

async function* counter(ctx, n) {
  if (n < 3) {
    ctx.continueAsNew(n + 1, false);
    return;
  }
  return n;
}

async function* waiter(ctx, _input) {
  return yield ctx.waitForExternalEvent("go");
}

const results = [];
function report(name, ok, detail) {
  results.push(ok);
  console.log(`${ok ? "ok" : "FAIL"} ${name} ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
}

async function expectEqual(name, actual, expected) {
  const same = JSON.stringify(actual) === JSON.stringify(expected);
  report(name, same, same ? actual : `got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
}

async function until(what, probe, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function outputOf(client, id) {
  const state = await client.waitForWorkflowCompletion(id, true, 60);
  if (!state) throw new Error(`no state for ${id}`);
  if (state.runtimeStatus !== 1) {
    throw new Error(`${id} ended ${state.runtimeStatus}: ${JSON.stringify(state.workflowFailureDetails)}`);
  }
  return JSON.parse(state.serializedOutput);
}

async function statusOf(client, id) {
  const state = await client.getWorkflowState(id, false);
  return state ? state.runtimeStatus : undefined;
}

async function main() {
  const runtime = new WorkflowRuntime({ daprHost: host, daprPort: grpcPort, ...quiet });
  for (const wf of [chain, fanOut, doubler, parent, approval, sleeper, counter, waiter]) {
    runtime.registerWorkflow(wf);
  }
  runtime.registerActivity(hello).registerActivity(square);
  await runtime.start();
  const client = new DaprWorkflowClient({ daprHost: host, daprPort: grpcPort, ...quiet });
  const S = WorkflowRuntimeStatus;

  try {
    await expectEqual("chain", await outputOf(client, await client.scheduleNewWorkflow(chain, null, "js-chain")), [
      "Hello, Tokyo!",
      "Hello, Seattle!",
      "Hello, London!",
    ]);
    await expectEqual("fan-out", await outputOf(client, await client.scheduleNewWorkflow(fanOut, 5, "js-fan")), 55);
    await expectEqual("child", await outputOf(client, await client.scheduleNewWorkflow(parent, 4, "js-parent")), {
      child: 32,
    });

    await client.scheduleNewWorkflow(approval, 60, "js-approve");
    await client.waitForWorkflowStart("js-approve", false, 30);
    await client.raiseEvent("js-approve", "approval", "yes");
    await expectEqual("event", await outputOf(client, "js-approve"), "approved:yes");
    await client.scheduleNewWorkflow(approval, 1, "js-timeout");
    await expectEqual("event-timeout", await outputOf(client, "js-timeout"), "timed out");

    await expectEqual("timer", await outputOf(client, await client.scheduleNewWorkflow(sleeper, null, "js-timer")), "timer fired");
    await expectEqual("continue-as-new", await outputOf(client, await client.scheduleNewWorkflow(counter, 0, "js-can")), 3);

    // Suspend, resume, terminate, purge with the durabletask client.
    await client.scheduleNewWorkflow(waiter, null, "js-suspend");
    await client.waitForWorkflowStart("js-suspend", false, 30);
    await client.suspendWorkflow("js-suspend");
    await until("suspended", async () => (await statusOf(client, "js-suspend")) === S.SUSPENDED);
    await client.raiseEvent("js-suspend", "go", "later");
    await client.resumeWorkflow("js-suspend");
    await expectEqual("suspend-resume", await outputOf(client, "js-suspend"), "later");
    await client.scheduleNewWorkflow(waiter, null, "js-terminate");
    await client.waitForWorkflowStart("js-terminate", false, 30);
    await client.terminateWorkflow("js-terminate", "stopped");
    const terminated = await client.waitForWorkflowCompletion("js-terminate", true, 30);
    await expectEqual("terminate", [terminated.runtimeStatus === S.TERMINATED, terminated.serializedOutput], [true, '"stopped"']);
    await client.purgeWorkflow("js-terminate");
    await expectEqual("purge", await client.getWorkflowState("js-terminate", false), undefined);

    // The SDK's DaprClient.workflow over gRPC is not implemented in the SDK itself.
    await manageWith("http", CommunicationProtocolEnum.HTTP, httpPort);
  } finally {
    await client.stop();
    await runtime.stop();
  }
}

// DaprClient().workflow: Dapr's workflow HTTP API.
async function manageWith(label, protocol, port) {
  const dapr = new DaprClient({ daprHost: host, daprPort: port, communicationProtocol: protocol, ...quiet });
  const wf = dapr.workflow;
  const id = `js-${label}-managed`;
  const status = async () => (await wf.get(id)).runtimeStatus;
  await wf.start("waiter", undefined, id);
  await until(`${label} running`, async () => (await status()) === "RUNNING");
  await wf.pause(id);
  await until(`${label} suspended`, async () => (await status()) === "SUSPENDED");
  await wf.resume(id);
  await until(`${label} resumed`, async () => (await status()) === "RUNNING");
  await wf.raise(id, "go", { via: label });
  await until(`${label} completed`, async () => (await status()) === "COMPLETED");
  const done = await wf.get(id);
  await expectEqual(`${label}-client`, [done.workflowName, JSON.parse(done.properties["dapr.workflow.output"])], [
    "waiter",
    { via: label },
  ]);
  await wf.purge(id);
  const other = `js-${label}-terminated`;
  await wf.start("waiter", undefined, other);
  await until(`${label} started`, async () => (await wf.get(other)).runtimeStatus === "RUNNING");
  await wf.terminate(other);
  await until(`${label} terminated`, async () => (await wf.get(other)).runtimeStatus === "TERMINATED");
  report(`${label}-terminate`, true, "TERMINATED");
  await dapr.stop();
}

main()
  .catch((err) => {
    report("app", false, err && err.stack ? err.stack : String(err));
  })
  .finally(() => {
    process.exit(results.every(Boolean) && results.length > 0 ? 0 : 1);
  });
