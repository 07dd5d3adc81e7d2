"use strict";
// The review queue: least certain LLM labels first; each item shows MELD's label and the LLM's label with its
// voice description as suggestions, and takes a final label (one of them, or another) with an optional note.

const TOKEN_KEY = "melt-study-reviewer";
const PAGE = 20;
let token = null;
let offset = 0;
let generation = 0;   // a newer load (filter changed) makes the answers of older ones stale

function suggestionText(s) {
  let text = s.agent + ": " + s.label;
  if (s.score !== null && s.score !== undefined) text += " (confidence " + s.score + ")";
  if (s.votes && Object.keys(s.votes).length > 1) text += ", votes " + JSON.stringify(s.votes);
  if (s.voice) {
    text += "; voice: loudness " + s.voice.loudness + ", pitch " + s.voice.pitch + ", rhythm " +
      s.voice.rhythm_speed + ", impact " + s.voice.emotional_impact;
  }
  return text;
}

function decisionText(d) {
  if (!d) return "Not decided yet.";
  let text = "Decided by " + d.reviewer + " at " + d.reviewed_at + ": " + d.final_label + " (" + d.label_source + ")";
  if (d.note) text += ". Note: " + d.note;
  return text;
}

function renderItem(item) {
  const li = document.getElementById("item-template").content.firstElementChild.cloneNode(true);
  li.dataset.itemId = item.item_id;
  li.querySelector(".meta").textContent = "#" + item.queue_rank + " · " + item.split + " dia" + item.dialogue_id +
    "_utt" + item.utterance_id + " · " + item.speaker;
  li.querySelector(".text").textContent = item.text;
  if (item.media_url) li.querySelector(".media").appendChild(mediaElement(item.media_type, item.media_url));
  const list = li.querySelector(".suggestions");
  for (const s of item.suggestions) {
    const entry = document.createElement("li");
    entry.dataset.source = s.source;
    entry.textContent = suggestionText(s);
    list.appendChild(entry);
  }
  const meld = item.suggestions.find((s) => s.source === "meld");
  const llm = item.suggestions.find((s) => s.source === "llm");
  li.querySelector(".llm-label").textContent = llm.label;
  li.querySelector(".meld-label").textContent = meld.label;
  li.querySelector(".decision").textContent = decisionText(item.decision);
  const form = li.querySelector("form.decide");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const chosen = form.querySelector("input[name=source]:checked");
    if (!chosen) { showError("Choose a final label first."); return; }
    const body = {item_id: item.item_id, source: chosen.value, note: form.elements.note.value};
    if (chosen.value === "reviewer") body.label = form.elements.label.value;
    const result = await api("POST", "/api/review/decisions", body, token);
    if (result.status !== 201) { showError(detail(result)); return; }
    li.querySelector(".decision").textContent = decisionText(result.data);
    li.classList.add("decided");
    form.querySelector(".saved").textContent = "Saved.";
  });
  return li;
}

async function load(reset) {
  const mine = ++generation;
  if (reset) { offset = 0; document.getElementById("queue").replaceChildren(); }
  const status = document.getElementById("filter").value;
  const result = await api("GET", "/api/review/queue?status=" + status + "&offset=" + offset + "&limit=" + PAGE,
                           undefined, token);
  if (mine !== generation) return;
  if (result.status === 401) { signOut(); showError("Unknown reviewer token."); return; }
  if (!result.ok) { showError(detail(result)); return; }
  const data = result.data;
  document.getElementById("counts").textContent = data.decided + " of " + data.total + " decided; " +
    data.matching + " shown by this filter.";
  const queue = document.getElementById("queue");
  for (const item of data.items) queue.appendChild(renderItem(item));
  offset += data.items.length;
  document.getElementById("more").hidden = offset >= data.matching;
}

async function signIn(candidate) {
  const result = await api("GET", "/api/review/me", undefined, candidate);
  if (result.status !== 200) { showError("Unknown reviewer token."); return; }
  token = candidate;
  sessionStorage.setItem(TOKEN_KEY, token);
  document.getElementById("who").textContent = result.data.reviewer;
  document.getElementById("login").hidden = true;
  document.getElementById("queue-view").hidden = false;
  showError("");
  await load(true);
}

function signOut() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("login").hidden = false;
  document.getElementById("queue-view").hidden = true;
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(document.getElementById("token").value.trim());
  });
  document.getElementById("logout").addEventListener("click", signOut);
  document.getElementById("filter").addEventListener("change", () => load(true));
  document.getElementById("more").addEventListener("click", () => load(false));
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
});
