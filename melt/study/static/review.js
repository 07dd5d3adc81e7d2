"use strict";
// The review queue, one item at a time: least certain LLM labels first. Each item shows the turns before it in
// its conversation (playable), MELD's label and the LLM's (with its voice description and, for a panel, each
// annotator's label and input), and takes a final label (one of them, or another) with an optional note.
// The queue is fetched a page at a time, paged by queue rank so that decisions never shift a page; everything
// works from the keyboard (see the keys line of the page).

const TOKEN_KEY = "melt-study-reviewer";
const PAGE = 10;
let token = null;
let pages = [];        // pages fetched for this filter: {after: queue rank it starts after, items, more}
let pageIndex = 0;
let index = 0;         // the item shown, on pages[pageIndex]
let counts = null;
let generation = 0;    // a newer load makes the answers of older ones stale
let refreshed = false; // media URLs of this page were refreshed once after a load error

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

function reviewMedia(kind, url) {
  const el = mediaElement(kind, url);
  el.preload = "none";   // a page of turns loads a clip only when it is played
  el.addEventListener("error", refreshMedia);
  return el;
}

function renderTurns(list, turns) {
  const template = document.getElementById("turn-template").content.firstElementChild;
  for (const t of turns) {
    const li = template.cloneNode(true);
    li.dataset.turn = t.turn;
    li.querySelector(".speaker").textContent = t.speaker;
    li.querySelector(".turn-text").textContent = t.text;
    if (t.media_url) li.querySelector(".turn-media").appendChild(reviewMedia(t.media_type, t.media_url));
    list.appendChild(li);
  }
  list.closest(".conversation").hidden = turns.length === 0;
}

function renderPanel(section, panel) {
  if (!panel) return;
  section.hidden = false;
  let summary = "Aggregated by " + panel.aggregate;
  if (panel.agreement !== null) summary += "; agreement " + panel.agreement;
  section.querySelector(".panel-summary").textContent = summary + ".";
  for (const a of panel.annotators) {
    const li = document.createElement("li");
    li.dataset.annotator = a.name;
    li.textContent = a.name + " (" + a.input + ", " + a.model + "): " + (a.label || "no label");
    section.querySelector(".annotators").appendChild(li);
  }
}

function renderItem(item) {
  const el = document.getElementById("item-template").content.firstElementChild.cloneNode(true);
  el.dataset.itemId = item.item_id;
  el.querySelector(".meta").textContent = "#" + item.queue_rank + " · " + item.split + " dia" + item.dialogue_id +
    "_utt" + item.utterance_id + " · " + item.speaker;
  renderTurns(el.querySelector(".context"), item.context || []);
  el.querySelector(".text").textContent = item.text;
  if (item.media_url) el.querySelector(".media").appendChild(reviewMedia(item.media_type, item.media_url));
  const list = el.querySelector(".suggestions");
  for (const s of item.suggestions) {
    const entry = document.createElement("li");
    entry.dataset.source = s.source;
    entry.textContent = suggestionText(s);
    list.appendChild(entry);
  }
  renderPanel(el.querySelector(".panel"), item.panel);
  el.querySelector(".llm-label").textContent = item.suggestions.find((s) => s.source === "llm").label;
  el.querySelector(".meld-label").textContent = item.suggestions.find((s) => s.source === "meld").label;
  el.querySelector(".decision").textContent = decisionText(item.decision);
  if (item.decision) el.classList.add("decided");
  const form = el.querySelector("form.decide");
  form.addEventListener("submit", (event) => { event.preventDefault(); save(item, el, form); });
  return el;
}

async function save(item, el, form) {
  showError("");
  const chosen = form.querySelector("input[name=source]:checked");
  if (!chosen) { showError("Choose a final label first (1, 2 or 3)."); return; }
  const body = {item_id: item.item_id, source: chosen.value, note: form.elements.note.value};
  if (chosen.value === "reviewer") body.label = form.elements.label.value;
  const result = await api("POST", "/api/review/decisions", body, token);
  if (result.status !== 201) { showError(detail(result)); return; }
  if (!item.decision && counts) counts.decided += 1;
  item.decision = result.data;
  el.querySelector(".decision").textContent = decisionText(result.data);
  el.classList.add("decided");
  form.querySelector(".saved").textContent = "Saved.";
  showCounts();
  await move(1);
}

function showCounts() {
  if (counts) {
    document.getElementById("counts").textContent = counts.decided + " of " + counts.total + " decided; " +
      counts.matching + " matched this filter when loaded.";
  }
}

function show(i) {
  index = i;
  const page = pages[pageIndex];
  const holder = document.getElementById("current");
  if (!page || !page.items.length) {
    holder.replaceChildren();
    document.getElementById("position").textContent = "Nothing to show.";
  } else {
    holder.replaceChildren(renderItem(page.items[index]));
    document.getElementById("position").textContent = "Item " + (index + 1) + " of " + page.items.length +
      " on page " + (pageIndex + 1);
  }
  document.getElementById("prev").disabled = index === 0 && pageIndex === 0;
  document.getElementById("next").disabled = !page || (index >= page.items.length - 1 &&
    pageIndex === pages.length - 1 && !page.more);
}

async function fetchPage(start) {
  // One page of the queue for the current filter, starting after queue rank `start`; null if superseded.
  const mine = ++generation;
  const status = document.getElementById("filter").value;
  const result = await api("GET", "/api/review/queue?status=" + status + "&after=" + start + "&limit=" + PAGE,
                           undefined, token);
  if (mine !== generation) return null;
  if (result.status === 401) { signOut(); showError("Unknown reviewer token."); return null; }
  if (!result.ok) { showError(detail(result)); return null; }
  counts = result.data;
  showCounts();
  return {after: start, items: result.data.items, more: result.data.more};
}

async function loadFirst() {
  // Pages already seen are kept (with the decisions made on them) until the filter changes or the page reloads.
  pages = [];
  pageIndex = 0;
  refreshed = false;
  const page = await fetchPage(0);
  if (!page) return;
  pages = [page];
  show(0);
}

async function move(step) {
  const page = pages[pageIndex];
  if (!page) return;
  if (step > 0) {
    if (index < page.items.length - 1) { show(index + 1); return; }
    if (pageIndex < pages.length - 1) { pageIndex += 1; show(0); return; }
    if (!page.more) return;
    const next = await fetchPage(page.items[page.items.length - 1].queue_rank);
    if (!next) return;
    if (!next.items.length) { page.more = false; show(index); return; }
    pages.push(next);
    pageIndex += 1;
    show(0);
  } else {
    if (index > 0) { show(index - 1); return; }
    if (pageIndex === 0) return;
    pageIndex -= 1;
    show(pages[pageIndex].items.length - 1);
  }
}

async function refreshMedia() {
  // Signed media URLs expire: fetch this page again (fresh URLs) once, keeping the place.
  if (refreshed) { showError("A clip cannot be played; reload the page."); return; }
  refreshed = true;
  const keep = index;
  const page = await fetchPage(pages[pageIndex].after);
  if (!page) return;
  pages[pageIndex] = page;
  show(Math.min(keep, Math.max(page.items.length - 1, 0)));
}

function onKey(event) {
  if (!token || event.altKey || event.metaKey) return;
  const target = event.target;
  const form = document.querySelector("#current form.decide");
  if (target.matches("textarea, input[type=text], input[type=password]")) {
    if (event.key === "Escape") target.blur();
    else if (event.key === "Enter" && event.ctrlKey && form) { event.preventDefault(); form.requestSubmit(); }
    return;   // typing, not a shortcut (Enter in the label field submits the form by itself)
  }
  if (target.matches("select, button") && event.key === "Enter") return;
  if (event.ctrlKey) return;
  const pick = {"1": "llm", "2": "meld", "3": "reviewer"}[event.key];
  if (pick && form) {
    event.preventDefault();
    form.querySelector("input[name=source][value=" + pick + "]").checked = true;
    if (pick === "reviewer") form.elements.label.focus();
  } else if (event.key === "Enter" && form) {
    event.preventDefault();
    form.requestSubmit();
  } else if (event.key === "ArrowRight" || event.key === "n") {
    event.preventDefault();
    move(1);
  } else if (event.key === "ArrowLeft" || event.key === "p") {
    event.preventDefault();
    move(-1);
  } else if (event.key === "t" && form) {
    event.preventDefault();
    form.elements.note.focus();
  } else if (event.key === "m") {
    const clip = document.querySelector("#current .media audio, #current .media video");
    if (clip) { if (clip.paused) clip.play(); else clip.pause(); }
  }
}

async function signIn(candidate) {
  const result = await api("GET", "/api/review/me", undefined, candidate);
  if (result.status !== 200) { showError("Unknown reviewer token."); return; }
  token = candidate;
  sessionStorage.setItem(TOKEN_KEY, token);
  document.getElementById("who").textContent = result.data.reviewer;
  document.getElementById("login").hidden = true;
  document.getElementById("queue-view").hidden = false;
  document.getElementById("token").blur();
  showError("");
  await loadFirst();
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
  document.getElementById("filter").addEventListener("change", (event) => {
    event.target.blur();   // back to the keyboard shortcuts
    loadFirst();
  });
  document.getElementById("next").addEventListener("click", () => move(1));
  document.getElementById("prev").addEventListener("click", () => move(-1));
  document.addEventListener("keydown", onKey);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
});
