// `clavata batch create|upload|list|wait|cancel|output`: batch jobs, over the gateway's REST surface (batch
// commands use REST whatever --rest says). A presigned URL grants access by itself, so the tool never prints one
// whole: the upload URL goes to a file only you can read (or straight into the upload), and job output shows
// URLs redacted.

import { createReadStream } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { type BatchJob, BatchJobSchema, BatchJobState } from "../../../gen/clavata/gateway/v1/batch_pb.js";
import type { BatchInputFile, BatchInputItem } from "../../batch-transfer.js";
import { redactSignedUrl } from "../../batch-transfer.js";
import type { ClavataClient } from "../../client.js";
import { AbortedError, ClavataError } from "../../errors.js";
import {
  ExitCode,
  GLOBAL_OPTIONS,
  GLOBAL_OPTIONS_HELP,
  type ParsedValues,
  parseCommandArgs,
  parseDuration,
  stringValue,
  stringValues,
  UsageError,
} from "../args.js";
import type { CommandContext } from "../command-context.js";
import { openGateway } from "../gateway-connection.js";
import { reportFailure } from "../report-failure.js";

/** Where `batch upload` reads the upload URL from when --upload-url-file is not given. */
const UPLOAD_URL_ENV = "CLAVATA_UPLOAD_URL";

/** The help of `clavata batch`. */
export const BATCH_HELP = `Usage: clavata batch <create|upload|list|wait|cancel|output> [options]

Batch jobs moderate a large file of items without holding a stream open (REST only: these commands use the
gateway's REST surface). The usual flow:
  clavata batch create --policy <id> --input items.csv     create, then upload the file at once
  clavata batch wait <batch-job-id>                         wait until it is COMPLETED
  clavata batch output <batch-job-id> > results.jsonl       read the output file

Commands:
  create    create a batch job (and upload its input with --input)
  upload    upload the input of a batch job created earlier
  list      list batch jobs, by id or state
  wait      wait for a batch job to finish
  cancel    cancel a batch job
  output    print a completed batch job's output file as JSON lines

Input files: .csv with the columns ref_id,type,content (sent as is), or .jsonl with {"ref_id", "type", "content"}
per line; type is text or image_url, ref_id is unique.`;

const INPUT_HELP = `  -i, --input <file>          the input: .csv (ref_id,type,content) or .jsonl ({"ref_id","type","content"})`;

const CREATE_HELP = `Usage: clavata batch create [options]

Creates a batch job. With --input, uploads its input at once (the upload URL never leaves the process); otherwise
writes the upload URL to --upload-url-file (readable by you only) for a later "clavata batch upload".

Options:
  --name <name>               a name for the batch job
  --policy <id>               the policy to evaluate against
  --webhook-url <url>         an https:// URL to call when the batch job completes
${INPUT_HELP}
  --upload-url-file <path>    where to write the presigned upload URL (mode 0600), without --input

${GLOBAL_OPTIONS_HELP}`;

const UPLOAD_HELP = `Usage: clavata batch upload --input <file> [--upload-url-file <path>]

Uploads a batch job's input to its presigned URL, read from --upload-url-file or $${UPLOAD_URL_ENV} (never from the
command line, where other users could see it). Progress goes to standard error.

Options:
${INPUT_HELP}
  --upload-url-file <path>    the file "clavata batch create" wrote the URL to

${GLOBAL_OPTIONS_HELP}`;

const LIST_HELP = `Usage: clavata batch list [--id <id>]... [--state <state>]...

Prints the batch jobs as JSON lines, the output URL redacted. No filter lists every batch job.

Options:
  --id <id>          only this batch job (repeatable)
  --state <state>    only this state (repeatable): ${Object.keys(BatchJobState)
    .filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED")
    .join(", ")}

${GLOBAL_OPTIONS_HELP}`;

const WAIT_HELP = `Usage: clavata batch wait <batch-job-id> [options]

Waits until the batch job is COMPLETED, ERROR or CANCELLED, printing each state change to standard error, then
prints the job. Exits 1 unless it COMPLETED.

Options:
  --poll-interval <time>   time between polls (default 5s)
  --wait-timeout <time>    how long to wait in all (default 1h)

${GLOBAL_OPTIONS_HELP}`;

const CANCEL_HELP = `Usage: clavata batch cancel <batch-job-id>

Cancels a batch job that has not finished, and prints its state.

${GLOBAL_OPTIONS_HELP}`;

const OUTPUT_HELP = `Usage: clavata batch output <batch-job-id> [-o <file>]

Prints a completed batch job's output file as JSON lines, one row each with every column the file has.

Options:
  -o, --output <file>   write to a file instead of standard output

${GLOBAL_OPTIONS_HELP}`;

/** A batch job as JSON, its output URL redacted. */
function jobJson(job: BatchJob): unknown {
  const json = toJson(BatchJobSchema, job) as Record<string, unknown>;
  if (typeof json.outputFileUrl === "string") json.outputFileUrl = redactSignedUrl(json.outputFileUrl);
  return json;
}

function print(out: CommandContext["stdout"], value: unknown): void {
  out.write(`${JSON.stringify(value)}\n`);
}

/** Opens a REST connection, runs the command, and turns a failed call into exit 1 (130 when interrupted). */
async function withRestGateway(
  values: ParsedValues,
  command: string,
  io: CommandContext,
  run: (client: ClavataClient) => Promise<number>,
): Promise<number> {
  const gateway = await openGateway({ ...values, rest: true }, command, io);
  try {
    return await run(gateway.client);
  } catch (error) {
    if (error instanceof AbortedError && io.signal.aborted) {
      io.stderr.write(`clavata ${command}: interrupted\n`);
      return ExitCode.INTERRUPTED;
    }
    if (error instanceof ClavataError) return reportFailure(error, command, io.stderr);
    throw error;
  } finally {
    await gateway.close();
  }
}

function oneId(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError("give one batch job id, as printed by batch create", command);
  return positionals[0]!;
}

/** Reads --input: a CSV file is streamed as is (its size known); a JSON lines file becomes items. */
async function readInput(path: string, command: string): Promise<Iterable<BatchInputItem> | BatchInputFile> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    throw new UsageError(`--input: cannot read ${path}`, command);
  }
  if (/\.csv$/i.test(path)) return { stream: createReadStream(path), size };
  if (!/\.jsonl$/i.test(path)) throw new UsageError("--input must be a .csv or .jsonl file", command);
  const items: BatchInputItem[] = [];
  // A leading byte order mark is not part of the first row.
  for (const [i, line] of (await readFile(path, "utf8"))
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .entries()) {
    if (line.trim() === "") continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new UsageError(`--input: line ${i + 1} is not JSON`, command);
    }
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      throw new UsageError(
        `--input: line ${i + 1} is not a JSON object such as {"ref_id": "1", "content": "…"}`,
        command,
      );
    }
    items.push({
      refId: String(row.ref_id ?? row.refId ?? ""),
      type: String(row.type ?? "text") as BatchInputItem["type"],
      content: String(row.content ?? ""),
    });
  }
  return items;
}

/** Uploads with a progress line on standard error (only when it is a terminal, to keep logs clean). */
async function upload(
  io: CommandContext,
  client: ClavataClient,
  url: string,
  input: Iterable<BatchInputItem> | BatchInputFile,
) {
  const tty = io.stderr.isTTY === true;
  const result = await client.uploadBatchInput(url, input, {
    onProgress: ({ sentBytes, totalBytes }) => {
      if (tty) io.stderr.write(`\ruploading: ${Math.floor((100 * sentBytes) / Math.max(1, totalBytes))}%`);
    },
  });
  io.stderr.write(
    `${tty ? "\r" : ""}uploaded ${result.bytes} bytes${result.rows === undefined ? "" : `, ${result.rows} rows`}\n`,
  );
}

async function createCommand(io: CommandContext): Promise<number> {
  const { argv, signal } = io;
  const command = "batch create";
  const { values } = parseCommandArgs(
    argv,
    {
      ...GLOBAL_OPTIONS,
      name: { type: "string" },
      policy: { type: "string" },
      "webhook-url": { type: "string" },
      input: { type: "string", short: "i" },
      "upload-url-file": { type: "string" },
    },
    command,
    { positionals: false },
  );
  const inputPath = stringValue(values, "input");
  const urlFile = stringValue(values, "upload-url-file");
  const input = inputPath === undefined ? undefined : await readInput(resolve(io.cwd, inputPath), command);
  return withRestGateway(values, command, io, async (client) => {
    const name = stringValue(values, "name");
    const policyId = stringValue(values, "policy");
    const webhookUrl = stringValue(values, "webhook-url");
    const created = await client.createBatchJob(
      {
        ...(name !== undefined ? { name } : {}),
        ...(policyId !== undefined ? { policyId } : {}),
        ...(webhookUrl !== undefined ? { webhookUrl } : {}),
      },
      { signal },
    );
    print(io.stdout, {
      batchJobId: created.batchJobId,
      name: created.name,
      inputFileUploadUrl: redactSignedUrl(created.inputFileUploadUrl),
    });
    if (urlFile !== undefined)
      await writeFile(resolve(io.cwd, urlFile), `${created.inputFileUploadUrl}\n`, { mode: 0o600 });
    if (input !== undefined) await upload(io, client, created.inputFileUploadUrl, input);
    else if (urlFile === undefined) {
      io.stderr.write(
        "hint: the upload URL is not shown; pass --input to upload now, or --upload-url-file to keep it for clavata batch upload\n",
      );
    }
    return ExitCode.OK;
  });
}

async function uploadCommand(io: CommandContext): Promise<number> {
  const { argv } = io;
  const command = "batch upload";
  const { values } = parseCommandArgs(
    argv,
    { ...GLOBAL_OPTIONS, input: { type: "string", short: "i" }, "upload-url-file": { type: "string" } },
    command,
    { positionals: false },
  );
  const inputPath = stringValue(values, "input");
  if (inputPath === undefined) throw new UsageError("give the input file with --input", command);
  const urlFile = stringValue(values, "upload-url-file");
  const url = (
    urlFile === undefined
      ? io.env[UPLOAD_URL_ENV]
      : await readFile(resolve(io.cwd, urlFile), "utf8").catch(() => undefined)
  )?.trim();
  if (url === undefined || url === "") {
    throw new UsageError(
      `no upload URL: pass --upload-url-file (as written by batch create) or set ${UPLOAD_URL_ENV}`,
      command,
    );
  }
  const input = await readInput(resolve(io.cwd, inputPath), command);
  return withRestGateway(values, command, io, async (client) => {
    await upload(io, client, url, input);
    return ExitCode.OK;
  });
}

async function listCommand(io: CommandContext): Promise<number> {
  const { argv, signal } = io;
  const command = "batch list";
  const { values } = parseCommandArgs(
    argv,
    { ...GLOBAL_OPTIONS, id: { type: "string", multiple: true }, state: { type: "string", multiple: true } },
    command,
    { positionals: false },
  );
  const states = stringValues(values, "state").map((name) => {
    const key = name.toUpperCase().replace(/^BATCH_JOB_STATE_/, "") as keyof typeof BatchJobState;
    const state = BatchJobState[key];
    if (typeof state !== "number") throw new UsageError(`--state ${name} is not a batch job state`, command);
    return state;
  });
  return withRestGateway(values, command, io, async (client) => {
    for (const job of await client.getBatchJobs({ batchJobIds: stringValues(values, "id"), states }, { signal })) {
      print(io.stdout, jobJson(job));
    }
    return ExitCode.OK;
  });
}

async function waitCommand(io: CommandContext): Promise<number> {
  const { argv, signal } = io;
  const command = "batch wait";
  const { values, positionals } = parseCommandArgs(
    argv,
    { ...GLOBAL_OPTIONS, "poll-interval": { type: "string" }, "wait-timeout": { type: "string" } },
    command,
  );
  const id = oneId(positionals, command);
  const poll = stringValue(values, "poll-interval");
  const limit = stringValue(values, "wait-timeout");
  return withRestGateway(values, command, io, async (client) => {
    const job = await client.waitForBatchJob(id, {
      pollIntervalMs: poll === undefined ? 5000 : parseDuration(poll, "--poll-interval", command),
      timeoutMs: limit === undefined ? 3_600_000 : parseDuration(limit, "--wait-timeout", command),
      signal,
      onStateChange: (j) => io.stderr.write(`${BatchJobState[j.state]}\n`),
    });
    print(io.stdout, jobJson(job));
    return job.state === BatchJobState.COMPLETED ? ExitCode.OK : ExitCode.FAILURE;
  });
}

async function cancelCommand(io: CommandContext): Promise<number> {
  const { argv, signal } = io;
  const command = "batch cancel";
  const { values, positionals } = parseCommandArgs(argv, { ...GLOBAL_OPTIONS }, command);
  const id = oneId(positionals, command);
  return withRestGateway(values, command, io, async (client) => {
    const answer = await client.cancelBatchJob(id, { signal });
    print(io.stdout, { batchJobId: answer.batchJobId, state: `BATCH_JOB_STATE_${BatchJobState[answer.state]}` });
    return ExitCode.OK;
  });
}

async function outputCommand(io: CommandContext): Promise<number> {
  const { argv, signal } = io;
  const command = "batch output";
  const { values, positionals } = parseCommandArgs(
    argv,
    { ...GLOBAL_OPTIONS, output: { type: "string", short: "o" } },
    command,
  );
  const id = oneId(positionals, command);
  const outPath = stringValue(values, "output");
  return withRestGateway(values, command, io, async (client) => {
    const [job] = await client.getBatchJobs({ batchJobIds: [id] }, { signal });
    if (job === undefined) throw new UsageError(`batch job ${id} not found`, command);
    const lines: string[] = [];
    let rows = 0;
    for await (const row of client.readBatchOutput(job, { signal })) {
      const line = `${JSON.stringify(row.fields)}\n`;
      if (outPath === undefined) io.stdout.write(line);
      else lines.push(line);
      rows++;
    }
    if (outPath !== undefined) await writeFile(resolve(io.cwd, outPath), lines.join(""));
    io.stderr.write(`${rows} rows\n`);
    return ExitCode.OK;
  });
}

/** The subcommands of `clavata batch`, with their help. */
export const BATCH_COMMANDS: Record<string, { run: (context: CommandContext) => Promise<number>; help: string }> = {
  create: { run: createCommand, help: CREATE_HELP },
  upload: { run: uploadCommand, help: UPLOAD_HELP },
  list: { run: listCommand, help: LIST_HELP },
  wait: { run: waitCommand, help: WAIT_HELP },
  cancel: { run: cancelCommand, help: CANCEL_HELP },
  output: { run: outputCommand, help: OUTPUT_HELP },
};
