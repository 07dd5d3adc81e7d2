"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (localStorage.getItem(SESSION_KEY)) document.getElementById("resume").hidden = false;
  document.getElementById("consent-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    if (!document.getElementById("consent").checked) {
      showError("Please tick the consent box to take part.");
      return;
    }
    const body = {consent: true};
    for (const name of ["gender", "age_range", "native_english", "headphones"]) {
      const value = document.getElementById(name).value;
      if (value) body[name] = value;
    }
    const button = document.getElementById("start");
    button.disabled = true;
    const result = await api("POST", "/api/participants", body);
    if (result.status !== 201) {
      button.disabled = false;
      showError(detail(result));
      return;
    }
    localStorage.setItem(SESSION_KEY, JSON.stringify({participant_id: result.data.participant_id,
                                                      token: result.data.token}));
    window.location.assign("/study");
  });
});
