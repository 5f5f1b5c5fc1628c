// The official openai npm package reading make serve's streamed answers as they come: speech's body read chunk by
// chunk (when each came, and the bytes, saved for the Python test), and a transcription with stream: true as typed
// events. Prints one JSON report on stdout.
// Usage: BASE_URL=http://127.0.0.1:8000/v1 OUT_DIR=/tmp/out TEXT="..." WAV=/tmp/speech.wav node streaming.mjs
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: "sk-local", maxRetries: 0, timeout: 60_000 });
const report = { speech: null, transcription: null };

const started = performance.now();
const response = await client.audio.speech.create({
  model: "tts-1", voice: "fable", input: process.env.TEXT, response_format: "pcm",
});
const chunks = [];
const arrivals = []; // seconds after the call, one per chunk read
for await (const chunk of response.body) {
  arrivals.push((performance.now() - started) / 1000);
  chunks.push(Buffer.from(chunk));
}
const file = path.join(process.env.OUT_DIR, "streamed.pcm");
await writeFile(file, Buffer.concat(chunks));
report.speech = { file, arrivals, contentType: response.headers.get("content-type") };

const stream = await client.audio.transcriptions.create({
  model: "whisper-1", file: await toFile(await readFile(process.env.WAV), "speech.wav"), stream: true,
});
const events = [];
for await (const event of stream) {
  events.push({ type: event.type, delta: event.delta ?? null, text: event.text ?? null });
}
report.transcription = events;

process.stdout.write(JSON.stringify(report));
