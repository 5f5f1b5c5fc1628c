// The official openai npm package against the /v1 door: speech in each voice and format (saved for the Python
// test to decode), transcriptions in json and text, and the typed errors. Prints one JSON report on stdout.
// Usage: BASE_URL=http://127.0.0.1:8000/v1 OUT_DIR=/tmp/out node speech_and_transcription.mjs
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: "sk-local", maxRetries: 0, timeout: 60_000 });
const outDir = process.env.OUT_DIR;
const voices = ["alloy", "echo", "fable", "onyx", "nova", "shimmer"];
const formats = ["mp3", "opus", "aac", "flac", "wav", "pcm"];
const report = { speech: [], transcriptions: {}, errors: {} };

async function typedError(call) {
  try {
    await call();
    return null;
  } catch (error) {
    return {
      badRequest: error instanceof OpenAI.BadRequestError,
      notFound: error instanceof OpenAI.NotFoundError,
      status: error.status,
      code: error.code,
      param: error.param,
    };
  }
}

await mkdir(outDir, { recursive: true });
for (const voice of voices) {
  for (const format of formats) {
    const response = await client.audio.speech.create({
      model: "tts-1", voice, input: "Hello from the speech API", response_format: format,
    });
    const file = path.join(outDir, `${voice}.${format}`);
    await writeFile(file, Buffer.from(await response.arrayBuffer()));
    report.speech.push({ voice, format, file, contentType: response.headers.get("content-type") });
  }
}

const wav = await readFile(path.join(outDir, "alloy.wav"));
for (const format of ["json", "text"]) {
  const result = await client.audio.transcriptions.create({
    model: "whisper-1", file: await toFile(wav, "speech.wav"), response_format: format,
  });
  report.transcriptions[format] = typeof result === "string" ? result : result.text;
}
report.transcriptions.srt = await client.audio.transcriptions.create({
  model: "whisper-1", file: await toFile(wav, "speech.wav"), response_format: "srt",
});
const verbose = await client.audio.transcriptions.create({
  model: "whisper-1", file: await toFile(wav, "speech.wav"), response_format: "verbose_json",
  timestamp_granularities: ["word"],
});
report.transcriptions.verbose_json = { segments: verbose.segments ?? null, words: verbose.words, duration: verbose.duration };
report.errors.badModel = await typedError(async () => client.audio.transcriptions.create({
  model: "gpt-4o-transcribe", file: await toFile(wav, "speech.wav"),
}));
report.errors.badVoice = await typedError(() => client.audio.speech.create({
  model: "tts-1", voice: "coral", input: "Hello",
}));
report.errors.badFile = await typedError(async () => client.audio.transcriptions.create({
  model: "whisper-1", file: await toFile(Buffer.from("these are not sounds"), "notes.mp3"),
}));
report.models = (await client.models.list()).data.map((model) => model.id).sort();
console.log(JSON.stringify(report));
