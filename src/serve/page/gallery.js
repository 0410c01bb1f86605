// The live view of the gallery: the figures of /_live (Server-Sent Events) shown as they
// come, and a minute of "requests in flight" drawn on the canvas. Where the stream is
// refused (503: 16 pages watch already), /_live.json is read twice a second instead.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const history = []; // "in flight" each fifth of a second, the newest last
  let latest = null;

  function show(figures) {
    latest = figures;
    $("in-flight").textContent = figures.in_flight_recent_max;
    $("connections").textContent = figures.connections;
    $("per-second").textContent = Math.round(figures.per_second);
    $("served").textContent = figures.served;
    $("peak").textContent = figures.peak_in_flight;
    const rows = figures.clients.map((c) => {
      const row = document.createElement("tr");
      for (const cell of [c.address, c.in_flight, c.connections, c.served]) {
        row.appendChild(document.createElement("td")).textContent = cell;
      }
      return row;
    });
    $("clients").tBodies[0].replaceChildren(...rows);
  }

  // On a log scale, so that 1 in flight (sequential) shows beside 30 (threads) and 194.
  function draw() {
    const canvas = $("history");
    const g = canvas.getContext("2d");
    const top = Math.max(10, ...history);
    const y = (n) => canvas.height - (Math.log1p(n) / Math.log1p(top)) * (canvas.height - 4);
    const step = canvas.width / 300;
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = "#0b5cad";
    history.forEach((n, i) => {
      const x = canvas.width - (history.length - i) * step;
      g.fillRect(x, y(n), step, canvas.height - y(n));
    });
    g.strokeStyle = "#d8dde3";
    g.fillStyle = "#555";
    g.font = "11px system-ui, sans-serif";
    for (let n = 1; n <= top; n *= 10) {
      g.beginPath();
      g.moveTo(0, y(n));
      g.lineTo(canvas.width, y(n));
      g.stroke();
      g.fillText(`${n}`, 4, y(n) - 2);
    }
    g.fillText("requests in flight, the last minute (log scale)", 40, 12);
  }

  function state(text) {
    $("state").textContent = text;
    document.body.dataset.live = text.split(":")[0];
  }

  setInterval(() => {
    if (latest === null) return;
    history.push(latest.in_flight_recent_max);
    if (history.length > 300) history.shift();
    draw();
  }, 200);

  function poll() {
    fetch("/_live.json", { cache: "no-store" })
      .then((answer) => answer.json())
      .then(show)
      .catch(() => {})
      .finally(() => setTimeout(poll, 500));
  }

  const events = new EventSource("/_live");
  events.onopen = () => state("live: updated as the server answers");
  events.onmessage = (event) => show(JSON.parse(event.data));
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) {
      state("polling: the live stream was refused, /_live.json is read twice a second");
      poll();
    } else {
      state("reconnecting: the server is not answering");
    }
  };
})();
