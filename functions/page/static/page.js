// The page at /: speech from text (played while it streams), transcripts from the microphone or a file (a large
// file through an upload and a job). Plain JavaScript, no build step; every call goes to this API (same origin),
// but an upload's, which goes to the bucket's presigned URL.
"use strict";

const KEY_STORE = "speech-api-key";
// One request carries about 4.4 MB of audio (Lambda's 6 MB, base64: docs/api.md, Limits); larger files are
// uploaded to the bucket and transcribed by a job.
const SYNC_MAX_BYTES = 4_000_000;
const POLL_MS = 1000;
const SPEAKER_MODEL = "gpt-4o-transcribe-diarize";
const PCM_RATE = 24000; // /v1/audio/speech's pcm: 24 kHz, 16-bit little-endian, mono
const AUDIO_TYPES = { mp3: "audio/mpeg", opus: "audio/ogg", aac: "audio/aac", flac: "audio/flac", wav: "audio/wav" };
const RECORDER_TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/mp4", "audio/ogg;codecs=opus"];

const $ = (id) => document.getElementById(id);
const url = (path) => new URL(path, document.baseURI).href; // under the stage's path when deployed

class ApiError extends Error {
  constructor(message, status = 0, code = "") {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---- the key, kept for this tab only ----

function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

function keyHeaders() {
  const key = apiKey();
  return key ? { "x-api-key": key, Authorization: `Bearer ${key}` } : {};
}

// ---- what the person is told ----

function say(text) {
  $("status").textContent = text;
}

function showError(error) {
  const box = $("error");
  box.textContent = error instanceof ApiError ? error.message : `Something went wrong: ${error.message || error}`;
  box.hidden = false;
  say("");
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

const REFUSALS = {
  400: "The request was refused",
  401: "The API key was refused",
  403: "The API key was refused",
  404: "Not found",
  413: "Too large",
  429: "Refused for now",
  504: "It took too long",
};

// The API's own words: {"detail", "code"} on /api, {"error": {"message", "code"}} on /v1.
async function refusal(reply) {
  let detail = "";
  let code = "";
  try {
    const body = await reply.json();
    detail = body.detail || (body.error && body.error.message) || body.message || "";
    code = body.code || (body.error && body.error.code) || "";
  } catch {
    detail = reply.statusText;
  }
  const over = code === "budget_exceeded" || code === "insufficient_quota";
  const what = over ? "Over this key's budget" : REFUSALS[reply.status] || "The API answered an error";
  const retry = reply.headers.get("Retry-After");
  const later = retry ? ` Try again in ${retry} s.` : "";
  const said = detail && !/[.!?]$/.test(detail) ? `${detail}.` : detail;
  return new ApiError(`${what} (${reply.status}${code ? ` ${code}` : ""}): ${said}${later}`, reply.status, code);
}

async function call(path, init = {}) {
  const reply = await fetch(url(path), { ...init, headers: { ...keyHeaders(), ...(init.headers || {}) } });
  if (!reply.ok) throw await refusal(reply);
  return reply;
}

async function callJson(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  return (await call(path, init)).json();
}

function busy(section, on) {
  section.setAttribute("aria-busy", String(on));
  for (const control of section.querySelectorAll("button, select, input, textarea")) control.disabled = on;
}

function offerDownload(link, blob, name) {
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.hidden = false;
}

// ---- the lists: models and voices ----

let voices = [];

function fill(select, values, labels = values) {
  const kept = select.value;
  select.replaceChildren(...values.map((value, i) => new Option(labels[i], value)));
  if (values.includes(kept)) select.value = kept;
}

function fillVoices() {
  const model = $("tts-model").value;
  const spoken = voices.filter((voice) => voice.models.includes(model));
  fill($("tts-voice"), spoken.map((voice) => voice.id), spoken.map((voice) => voice.name));
}

async function loadLists() {
  const [models, listed] = await Promise.all([callJson("v1/models"), callJson("v1/audio/voices")]);
  voices = listed.voices;
  const speaking = new Set(voices.flatMap((voice) => voice.models));
  const ids = models.data.map((model) => model.id);
  fill($("tts-model"), ids.filter((id) => speaking.has(id)));
  // Speakers are asked for with "Label speakers" (the API's diarize field), not by picking the model that tells them.
  fill($("stt-model"), ids.filter((id) => !speaking.has(id) && id !== SPEAKER_MODEL));
  fillVoices();
}

// ---- text to speech ----

function pcmAsWav(chunks) {
  const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const header = new DataView(new ArrayBuffer(44));
  const text = (at, value) => [...value].forEach((c, i) => header.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, 36 + length, true);
  text(8, "WAVEfmt ");
  header.setUint32(16, 16, true);
  header.setUint16(20, 1, true);
  header.setUint16(22, 1, true);
  header.setUint32(24, PCM_RATE, true);
  header.setUint32(28, PCM_RATE * 2, true);
  header.setUint16(32, 2, true);
  header.setUint16(34, 16, true);
  text(36, "data");
  header.setUint32(40, length, true);
  return new Blob([header, ...chunks], { type: "audio/wav" });
}

// Raw PCM through Web Audio, each chunk scheduled right after the one before as it arrives.
async function playPcm(body) {
  const context = new AudioContext({ sampleRate: PCM_RATE });
  await context.resume();
  const chunks = [];
  const ended = [];
  let playAt = context.currentTime;
  let carry = new Uint8Array(0);
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    const bytes = new Uint8Array(carry.length + value.length);
    bytes.set(carry);
    bytes.set(value, carry.length);
    const whole = bytes.length - (bytes.length % 2); // a sample may straddle two chunks
    carry = bytes.slice(whole);
    if (!whole) continue;
    const samples = new Int16Array(bytes.buffer, 0, whole / 2);
    const buffer = context.createBuffer(1, samples.length, PCM_RATE);
    buffer.getChannelData(0).set(Float32Array.from(samples, (s) => s / 32768));
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    playAt = Math.max(playAt, context.currentTime);
    source.start(playAt);
    playAt += buffer.duration;
    ended.push(new Promise((resolve) => source.addEventListener("ended", resolve, { once: true })));
  }
  const blob = pcmAsWav(chunks);
  offerDownload($("tts-download"), blob, "speech.wav");
  await Promise.all(ended);
  const played = context.currentTime;
  await context.close();
  return played;
}

function appended(buffer, bytes) {
  return new Promise((resolve, reject) => {
    buffer.addEventListener("updateend", resolve, { once: true });
    buffer.addEventListener("error", () => reject(new Error("the browser could not play this audio")), { once: true });
    buffer.appendBuffer(bytes);
  });
}

// mp3 through a MediaSource: the audio element plays the first piece while the rest arrives.
async function playStreamed(body, type, audio) {
  const media = new MediaSource();
  audio.src = URL.createObjectURL(media);
  await new Promise((resolve) => media.addEventListener("sourceopen", resolve, { once: true }));
  const buffer = media.addSourceBuffer(type);
  const chunks = [];
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    await appended(buffer, value);
    if (audio.paused && chunks.length === 1) audio.play().catch(() => {});
  }
  if (media.readyState === "open") media.endOfStream();
  return new Blob(chunks, { type });
}

async function speak(event) {
  event.preventDefault();
  clearError();
  const section = $("tts-form").closest("section");
  const format = $("tts-format").value;
  const audio = $("tts-audio");
  const request = {
    model: $("tts-model").value,
    voice: $("tts-voice").value,
    input: $("tts-text").value,
    response_format: format,
    speed: Number($("tts-speed").value),
  };
  busy(section, true);
  $("tts-download").hidden = true;
  say("Asking for speech…");
  try {
    const reply = await call("v1/audio/speech", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request),
    });
    const type = AUDIO_TYPES[format];
    if (format === "pcm") {
      say("Playing while it streams…");
      const seconds = await playPcm(reply.body);
      say(`Played ${seconds.toFixed(1)} s of speech.`);
      return;
    }
    let blob;
    if (window.MediaSource && MediaSource.isTypeSupported(type) && format === "mp3") {
      say("Playing while it streams…");
      blob = await playStreamed(reply.body, type, audio);
    } else {
      blob = await reply.blob();
      audio.src = URL.createObjectURL(blob);
      await audio.play().catch(() => {});
    }
    offerDownload($("tts-download"), blob, `speech.${format}`);
    say("Speech ready: playing, and there to download.");
  } catch (error) {
    showError(error);
  } finally {
    busy(section, false);
  }
}

// ---- speech to text ----

function clock(seconds, mark) {
  const ms = Math.round(seconds * 1000);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const h = Math.floor(ms / 3600000);
  const m = Math.floor(ms / 60000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  return `${pad(h)}:${pad(m)}:${pad(s)}${mark}${pad(ms % 1000, 3)}`;
}

function subtitles(segments, vtt) {
  const mark = vtt ? "." : ",";
  const cues = segments.map((segment, i) => {
    const timing = `${clock(segment.start, mark)} --> ${clock(segment.end, mark)}`;
    const who = segment.speaker ? `${segment.speaker}: ` : "";
    return `${vtt ? "" : `${i + 1}\n`}${timing}\n${who}${segment.text.trim()}\n`;
  });
  return (vtt ? "WEBVTT\n\n" : "") + cues.join("\n");
}

function showProgress(label, fraction) {
  $("stt-progress-box").hidden = false;
  $("stt-progress-label").textContent = label;
  const bar = $("stt-progress");
  if (fraction === undefined || fraction === null) bar.removeAttribute("value");
  else bar.value = fraction;
}

function hideProgress() {
  $("stt-progress-box").hidden = true;
}

function transcriptForm(fields) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (Array.isArray(value)) form.append(name, value[0], value[1]);
    else form.append(name, value);
  }
  return form;
}

// The model and format asked for, and diarize=true when the person asked for speakers (timed formats only).
function transcriptFields(format) {
  const fields = { model: $("stt-model").value, response_format: format };
  if ($("stt-speakers").checked) fields.diarize = "true";
  return fields;
}

async function transcribeNow(blob, name, format) {
  const body = transcriptForm({ audio: [blob, name], ...transcriptFields(format) });
  return (await call("api/stt/", { method: "POST", body })).json();
}

// The file straight to the bucket (a presigned POST), with its progress as it goes.
function uploadTo(upload, blob, name) {
  const form = transcriptForm({ ...upload.fields, file: [blob, name] });
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", upload.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) showProgress("Uploading", event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status < 300) resolve();
      else {
        const said = /<Message>([^<]*)<\/Message>/.exec(request.responseText);
        reject(new ApiError(`The bucket refused the upload (${request.status}): ${said ? said[1] : request.statusText}`));
      }
    });
    request.addEventListener("error", () => reject(new ApiError("The upload could not reach the bucket")));
    request.send(form);
  });
}

async function transcribeAsJob(blob, name, format) {
  const contentType = (blob.type || "").split(";")[0];
  const upload = await callJson("api/uploads/", { filename: name, ...(contentType ? { content_type: contentType } : {}) });
  showProgress("Uploading", 0);
  await uploadTo(upload, blob, name);
  const fields = { upload_id: upload.upload_id, ...transcriptFields(format) };
  const job = await (await call("api/stt/jobs/", { method: "POST", body: transcriptForm(fields) })).json();
  showProgress("Transcribing");
  say("Transcribing a long recording…");
  for (;;) {
    const state = await callJson(`api/jobs/${encodeURIComponent(job.job_id)}`);
    const progress = state.progress;
    if (progress && progress.total) showProgress(`Transcribing: ${progress.done} of ${progress.total} pieces`, progress.done / progress.total);
    if (state.status === "succeeded") return state.result;
    if (state.status === "failed") {
      const error = state.error || {};
      throw new ApiError(`The transcription failed (${error.code || "failed"}): ${error.detail || ""}`, 0, error.code || "");
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

const TOO_BIG_FOR_ONE_REQUEST = new Set(["audio_too_long", "payload_too_large", "integration_failure"]);

// One request when the file fits in one, else (or when the API says it is too long for one) an upload and a job.
async function transcript(blob, name) {
  for (const format of ["verbose_json", "json"]) {
    try {
      if (blob.size > SYNC_MAX_BYTES) return await transcribeAsJob(blob, name, format);
      try {
        return await transcribeNow(blob, name, format);
      } catch (error) {
        if (!TOO_BIG_FOR_ONE_REQUEST.has(error.code) && error.status !== 413) throw error;
        return await transcribeAsJob(blob, name, format);
      }
    } catch (error) {
      // A route that gives no timings answers the text alone: then no subtitles.
      if (error.code !== "unsupported_response_format" || format === "json" || $("stt-speakers").checked) throw error;
    }
  }
  throw new ApiError("No transcript");
}

async function transcribe(blob, name) {
  clearError();
  const section = $("stt-heading").closest("section");
  const shown = $("transcript");
  shown.textContent = "";
  $("srt-download").hidden = true;
  $("vtt-download").hidden = true;
  busy(section, true);
  showProgress("Transcribing");
  say("Transcribing…");
  try {
    const result = await transcript(blob, name);
    const spoken = Array.isArray(result.segments) && result.segments.some((segment) => segment.speaker);
    shown.textContent = spoken
      ? result.segments.map((segment) => `${segment.speaker}: ${segment.text.trim()}`).join("\n")
      : result.transcript || "(No speech was heard.)";
    if (Array.isArray(result.segments) && result.segments.length) {
      const stem = name.replace(/\.[^.]*$/, "") || "transcript";
      offerDownload($("srt-download"), new Blob([subtitles(result.segments, false)], { type: "text/plain" }), `${stem}.srt`);
      offerDownload($("vtt-download"), new Blob([subtitles(result.segments, true)], { type: "text/vtt" }), `${stem}.vtt`);
    }
    say("Transcript ready.");
    shown.focus();
  } catch (error) {
    showError(error);
  } finally {
    hideProgress();
    busy(section, false);
  }
}

// ---- the microphone ----

let recorder = null;

async function toggleRecording() {
  const button = $("record");
  if (recorder) {
    recorder.stop();
    return;
  }
  clearError();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    showError(new ApiError(`The microphone is not available: ${error.message}`));
    return;
  }
  const mimeType = RECORDER_TYPES.find((type) => MediaRecorder.isTypeSupported(type));
  recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
  const parts = [];
  recorder.addEventListener("dataavailable", (event) => parts.push(event.data));
  recorder.addEventListener("stop", () => {
    stream.getTracks().forEach((track) => track.stop());
    const type = (recorder.mimeType || "audio/webm").split(";")[0];
    recorder = null;
    button.textContent = "Record";
    button.setAttribute("aria-pressed", "false");
    const blob = new Blob(parts, { type });
    transcribe(blob, type === "audio/mp4" ? "recording.m4a" : `recording.${type.split("/")[1]}`);
  });
  recorder.start();
  button.textContent = "Stop recording";
  button.setAttribute("aria-pressed", "true");
  say("Recording… press the button again to stop.");
}

// ---- start ----

async function refreshLists() {
  try {
    await loadLists();
  } catch (error) {
    // Deployed, a first visit has no key yet: ask for it rather than alarm.
    if (!apiKey() && (error.status === 401 || error.status === 403)) {
      say("Enter your API key to start.");
      $("key").focus();
    } else {
      showError(error);
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key").value = apiKey();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("key").value.trim());
    clearError();
    say("Key kept for this tab.");
    refreshLists();
  });
  $("tts-model").addEventListener("change", fillVoices);
  $("tts-form").addEventListener("submit", speak);
  $("record").addEventListener("click", toggleRecording);
  $("stt-file").addEventListener("change", () => {
    const file = $("stt-file").files[0];
    if (file) transcribe(file, file.name);
  });
  refreshLists();
});
