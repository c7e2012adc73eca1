// A line plot of one numeric field over time, on a <canvas>: axes with round ticks, the line and its
// points, and a cursor that the mouse or the arrow keys move from point to point (its value is read out
// as text, for screen readers too). About 150 lines instead of a charting library: nothing to vendor,
// pin or build, and nothing that needs inline styles under the page's Content-Security-Policy.

import { formatDuration, h } from "./dom.js";

const PAD = { left: 64, right: 16, top: 12, bottom: 34 };

/** Round tick values covering [low, high]. */
function ticks(low, high, count = 6) {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const step = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 2.5, 5, 10].map((m) => m * step).find((s) => (high - low) / s <= count) || step * 10;
  const values = [];
  for (let value = Math.ceil(low / nice) * nice; value <= high + nice * 1e-9; value += nice) values.push(value);
  return values;
}

function label(value) {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  return magnitude >= 1e5 || magnitude < 1e-3 ? value.toExponential(2) : Number(value.toPrecision(6)).toString();
}

/**
 * A plot element for points (xs: seconds since the window's start, ys: values), titled ``field``.
 * Its canvas carries ``data-points`` (how many points it draws) for tests and tools.
 */
export function linePlot(xs, ys, field) {
  const canvas = h("canvas", {
    tabindex: "0",
    role: "img",
    "aria-label": `Plot of ${field}: ${xs.length} points. Arrow keys move the cursor.`,
    dataset: { points: String(xs.length) },
  });
  const readout = h("div", { class: "readout", "aria-live": "polite" });
  const element = h("div", { class: "plot" }, canvas, readout);
  let cursor = -1;

  const bounds = () => {
    let yLow = Math.min(...ys);
    let yHigh = Math.max(...ys);
    if (yLow === yHigh) {
      yLow -= 1;
      yHigh += 1;
    }
    const xLow = xs.length ? xs[0] : 0;
    const xHigh = xs.length > 1 ? xs[xs.length - 1] : xLow + 1;
    return { xLow, xHigh: xHigh > xLow ? xHigh : xLow + 1, yLow, yHigh };
  };

  const draw = () => {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 800;
    const height = canvas.clientHeight || 280;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const { xLow, xHigh, yLow, yHigh } = bounds();
    const x = (value) => PAD.left + ((value - xLow) / (xHigh - xLow)) * (width - PAD.left - PAD.right);
    const y = (value) => height - PAD.bottom - ((value - yLow) / (yHigh - yLow)) * (height - PAD.top - PAD.bottom);

    context.font = "12px system-ui, sans-serif";
    context.strokeStyle = "#d0d7de";
    context.fillStyle = "#57606a";
    context.lineWidth = 1;
    context.textAlign = "right";
    context.textBaseline = "middle";
    for (const value of ticks(yLow, yHigh)) {
      context.beginPath();
      context.moveTo(PAD.left, y(value));
      context.lineTo(width - PAD.right, y(value));
      context.stroke();
      context.fillText(label(value), PAD.left - 6, y(value));
    }
    context.textAlign = "center";
    context.textBaseline = "top";
    for (const value of ticks(xLow, xHigh)) {
      context.fillText(formatDuration(value), x(value), height - PAD.bottom + 6);
    }

    context.strokeStyle = "#1f4e79";
    context.lineWidth = 1.5;
    context.beginPath();
    xs.forEach((value, index) => (index ? context.lineTo(x(value), y(ys[index])) : context.moveTo(x(value), y(ys[index]))));
    context.stroke();
    if (xs.length <= 1500) {
      context.fillStyle = "#1f4e79";
      xs.forEach((value, index) => context.fillRect(x(value) - 1.5, y(ys[index]) - 1.5, 3, 3));
    }
    if (cursor >= 0) {
      context.strokeStyle = "#cf222e";
      context.beginPath();
      context.moveTo(x(xs[cursor]), PAD.top);
      context.lineTo(x(xs[cursor]), height - PAD.bottom);
      context.stroke();
      context.fillStyle = "#cf222e";
      context.beginPath();
      context.arc(x(xs[cursor]), y(ys[cursor]), 4, 0, 2 * Math.PI);
      context.fill();
    }
    return { x, xLow, xHigh, width };
  };

  const moveTo = (index) => {
    if (!xs.length) return;
    cursor = Math.max(0, Math.min(xs.length - 1, index));
    readout.textContent = `${field} = ${label(ys[cursor])} at +${formatDuration(xs[cursor])} (point ${cursor + 1} of ${xs.length})`;
    draw();
  };

  canvas.addEventListener("mousemove", (event) => {
    const { xLow, xHigh, width } = draw();
    const offset = event.offsetX;
    const at = xLow + ((offset - PAD.left) / (width - PAD.left - PAD.right)) * (xHigh - xLow);
    let best = 0;
    for (let index = 1; index < xs.length; index += 1) {
      if (Math.abs(xs[index] - at) < Math.abs(xs[best] - at)) best = index;
    }
    moveTo(best);
  });
  canvas.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1, PageUp: 10, PageDown: -10 }[event.key];
    if (step !== undefined) {
      event.preventDefault();
      moveTo(cursor < 0 ? 0 : cursor + step);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      moveTo(event.key === "Home" ? 0 : xs.length - 1);
    }
  });
  // Drawn once it is in the page and has a size, and again when its size changes.
  new ResizeObserver(() => draw()).observe(canvas);
  return element;
}
