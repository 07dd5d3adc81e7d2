"use strict";
// Shared helpers of the study pages. Text from the server is only ever set with textContent.

const SESSION_KEY = "melt-study-participant";

async function api(method, path, body, token) {
  const headers = {"Accept": "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return {status: response.status, ok: response.ok, data};
}

function showError(message) {
  const el = document.getElementById("error");
  el.textContent = message || "";
  el.hidden = !message;
}

function detail(result) {
  const d = result.data && result.data.detail;
  if (typeof d === "string") return d;
  return "request failed (" + result.status + ")";
}

// A media element that reports how much of it was played (the union of the played ranges, in seconds).
function mediaElement(kind, url) {
  const el = document.createElement(kind === "video" ? "video" : "audio");
  el.src = url;
  el.controls = true;
  el.preload = "auto";
  return el;
}

function playedSeconds(el) {
  let total = 0;
  for (let i = 0; i < el.played.length; i++) total += el.played.end(i) - el.played.start(i);
  return total;
}
