"use strict";
// One question at a time: the answer buttons unlock once the clip has been played to its end (the server checks
// the seconds played again). Media URLs are signed and short-lived: a clip that fails to load gets fresh URLs once.

let session = null;
let questions = [];
let refreshedFor = null;   // the question whose media URLs were last refreshed after a load error

function nextQuestion() {
  return questions.find((q) => q.answered === null);
}

function render() {
  const answered = questions.filter((q) => q.answered !== null).length;
  const q = nextQuestion();
  const progress = document.getElementById("progress");
  if (!q) {
    progress.textContent = "Done: " + answered + " of " + questions.length + " answered.";
    document.getElementById("question").hidden = true;
    document.getElementById("done").hidden = false;
    return;
  }
  progress.textContent = "Question " + (answered + 1) + " of " + questions.length;
  const section = document.getElementById("question");
  section.hidden = false;
  section.dataset.questionId = q.question_id;
  document.getElementById("text").textContent = q.text;
  const holder = document.getElementById("media");
  holder.replaceChildren();
  const media = mediaElement(q.media_type, q.media_url);
  media.addEventListener("error", () => refreshMedia(q.question_id));
  holder.appendChild(media);
  const minShare = parseFloat(section.dataset.minPlayShare || "0.9");
  const buttons = document.querySelectorAll("#options .option");
  const hint = document.getElementById("hint");
  hint.textContent = "Play the whole clip to answer.";
  buttons.forEach((button, i) => {
    button.textContent = q.options[i];
    button.dataset.choice = q.options[i];
    button.disabled = true;
    button.onclick = () => submit(q, button.dataset.choice, media, buttons);
  });
  media.addEventListener("ended", () => {
    // Seeking straight to the end does not count: most of the clip must have been played.
    if (playedSeconds(media) >= minShare * media.duration) {
      buttons.forEach((b) => { b.disabled = false; });
      hint.textContent = "Choose the label that describes the clip best.";
    } else {
      hint.textContent = "Please play the whole clip.";
    }
  });
  document.getElementById("play").onclick = () => { media.currentTime = 0; media.play(); };
}

async function loadQuestions() {
  const result = await api("GET", "/api/participants/me", undefined, session.token);
  if (result.status === 401) {
    localStorage.removeItem(SESSION_KEY);
    window.location.assign("/");
    return false;
  }
  if (!result.ok) { showError(detail(result)); return false; }
  questions = result.data.questions;
  return true;
}

async function refreshMedia(questionId) {
  if (refreshedFor === questionId) { showError("This clip cannot be played; please reload the page."); return; }
  refreshedFor = questionId;
  if (await loadQuestions()) render();
}

async function submit(q, choice, media, buttons) {
  buttons.forEach((b) => { b.disabled = true; });
  showError("");
  const result = await api("POST", "/api/answers", {
    participant_id: session.participant_id, question_id: q.question_id, choice: choice,
    media_played_s: Math.round(playedSeconds(media) * 1000) / 1000,
  }, session.token);
  if (result.status === 201 || result.status === 200) {
    q.answered = result.data.choice;
    render();
  } else if (result.status === 401) {
    localStorage.removeItem(SESSION_KEY);
    window.location.assign("/");
  } else {
    buttons.forEach((b) => { b.disabled = false; });
    showError(detail(result));
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  try { session = JSON.parse(localStorage.getItem(SESSION_KEY)); } catch (e) { session = null; }
  if (!session || !session.token) { window.location.assign("/"); return; }
  if (await loadQuestions()) render();
});
