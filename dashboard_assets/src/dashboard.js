// The dashboard's only script: charts, copy-to-clipboard, live updates and small
// conveniences. Pages work without it (forms submit, links sort); it is loaded with
// `defer` from /app/static/, never inline (the Content-Security-Policy forbids that).
import {
  Chart,
  BarController,
  BarElement,
  LineController,
  LineElement,
  PointElement,
  CategoryScale,
  LinearScale,
  Legend,
  Tooltip,
} from 'chart.js';

Chart.register(
  BarController, BarElement, LineController, LineElement, PointElement,
  CategoryScale, LinearScale, Legend, Tooltip,
);

const PALETTE = ['#2457c5', '#1f9d6b', '#e08a00', '#c23b52', '#7a4cc2', '#5b6b7d'];

// A chart's data is a JSON island beside its canvas: <script type="application/json">
// is data, not code, so the CSP allows it and visitor text in it stays text.
function drawCharts() {
  for (const canvas of document.querySelectorAll('canvas[data-chart]')) {
    const island = document.getElementById(canvas.dataset.chart);
    if (!island) continue;
    const spec = JSON.parse(island.textContent);
    const datasets = spec.datasets.map((set, i) => ({
      label: set.label,
      data: set.data,
      type: set.type || spec.type,
      backgroundColor: set.color || PALETTE[i % PALETTE.length],
      borderColor: set.color || PALETTE[i % PALETTE.length],
      borderWidth: set.type === 'line' ? 2 : 0,
      yAxisID: set.axis || 'y',
      stack: set.stack,
      pointRadius: 3,
      tension: 0,
      clip: false,
      order: set.type === 'line' ? 0 : 1, // lines over bars: a rate inside a bar stays visible
    }));
    const scales = {
      x: { stacked: Boolean(spec.stacked), grid: { display: false } },
      y: { stacked: Boolean(spec.stacked), beginAtZero: true, ticks: { precision: 0 } },
    };
    if (spec.datasets.some((set) => set.axis === 'pct')) {
      scales.pct = {
        position: 'right', beginAtZero: true, max: 100, grid: { display: false },
        ticks: { callback: (v) => `${v}%` },
      };
    }
    const chart = new Chart(canvas, {
      type: spec.type || 'bar',
      data: { labels: spec.labels, datasets },
      options: {
        indexAxis: spec.horizontal ? 'y' : 'x',
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: spec.horizontal
          ? { x: { ...scales.y, stacked: Boolean(spec.stacked) }, y: { ...scales.x, stacked: Boolean(spec.stacked) } }
          : scales,
        plugins: {
          legend: { position: 'bottom', labels: { sort: (a, b) => a.datasetIndex - b.datasetIndex } },
        },
        locale: document.documentElement.lang || 'en',
      },
    });
    canvas.dataset.drawn = String(chart.data.datasets.length);
  }
}

// A button with data-copy puts that text on the clipboard (the missed-calls work list).
function wireCopy() {
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('[data-copy]');
    if (!button) return;
    event.preventDefault();
    const text = button.dataset.copy;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = document.createElement('textarea');
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    const done = button.dataset.copied || 'Copied';
    const status = document.getElementById('copy-status');
    if (status) status.textContent = `${done}: ${text}`;
    button.classList.add('copied');
  });
}

// Selects marked data-autosubmit send their form on change; the form keeps a visible
// submit button for keyboards and for browsers without this script.
function wireAutosubmit() {
  for (const select of document.querySelectorAll('select[data-autosubmit]')) {
    select.addEventListener('change', () => {
      if (select.value === 'custom') {
        const custom = document.getElementById('custom-period');
        if (custom) {
          custom.hidden = false;
          custom.querySelector('input')?.focus();
          return;
        }
      }
      select.form.requestSubmit();
    });
  }
}

// Forms marked data-confirm ask before they do something that cannot be undone.
function wireConfirm() {
  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// The live page: the server pushes the calls table (and now and then today's counters)
// as HTML it rendered and escaped, over server-sent events; we swap it in, and tick the
// "for" column every second (server time: the browser's clock may be off).
function wireLive() {
  const root = document.querySelector('[data-live-url]');
  if (!root) return;
  const target = document.getElementById(root.dataset.liveTarget);
  const counters = document.getElementById(root.dataset.liveCounters);
  const status = document.getElementById('live-status');
  let offset = 0;
  const sync = () => {
    const stamp = target.querySelector('[data-server-now]');
    if (stamp) offset = Number(stamp.dataset.serverNow) - Date.now();
  };
  const tick = () => {
    const now = Date.now() + offset;
    for (const cell of target.querySelectorAll('[data-since]')) {
      const secs = Math.max(0, Math.floor((now - Number(cell.dataset.since)) / 1000));
      const h = Math.floor(secs / 3600);
      const m = Math.floor((secs % 3600) / 60);
      const s = String(secs % 60).padStart(2, '0');
      cell.textContent = h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
    }
  };
  const setStatus = (on) => {
    if (!status) return;
    status.textContent = on ? status.dataset.on || 'live' : status.dataset.off || 'reconnecting';
    status.classList.toggle('on', on);
  };
  sync();
  setInterval(tick, 1000);
  if (!window.EventSource) return;
  const source = new EventSource(root.dataset.liveUrl);
  source.addEventListener('calls', (event) => {
    const data = JSON.parse(event.data);
    if (data.html !== undefined) {
      target.innerHTML = data.html;
      root.dataset.version = String(data.version);
      sync();
      tick();
    }
    if (data.counters !== undefined && counters) counters.innerHTML = data.counters;
    setStatus(true);
  });
  source.addEventListener('open', () => setStatus(true));
  source.addEventListener('error', () => setStatus(false));
}

function start() {
  drawCharts();
  wireCopy();
  wireAutosubmit();
  wireConfirm();
  wireLive();
  document.documentElement.classList.add('js');
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
