// Pan and zoom of the inspection panel: the content is moved with a CSS transform (cheap to
// composite, no re-layout), wheel zooms around the pointer, a drag pans.

export interface Transform {
  x: number;
  y: number;
  k: number;
}

export const MIN_ZOOM = 0.05;
export const MAX_ZOOM = 4;

/** Zooms by `factor` keeping the point (px, py) of the stage fixed. Pure. */
export function zoomAround(t: Transform, factor: number, px: number, py: number): Transform {
  const k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, t.k * factor));
  const f = k / t.k;
  return { k, x: px - (px - t.x) * f, y: py - (py - t.y) * f };
}

/** The transform that fits content of the given size into the stage, never enlarging past 1. Pure. */
export function fitTransform(content: { width: number; height: number }, stage: { width: number; height: number }, margin = 16): Transform {
  const w = Math.max(1, content.width);
  const h = Math.max(1, content.height);
  const k = Math.max(MIN_ZOOM, Math.min(1, (stage.width - 2 * margin) / w, (stage.height - 2 * margin) / h));
  return { k, x: (stage.width - w * k) / 2, y: Math.max(margin, (stage.height - h * k) / 2) };
}

/** The content rectangle visible in the stage. Pure. */
export function visibleRect(t: Transform, stage: { width: number; height: number }) {
  return { x: -t.x / t.k, y: -t.y / t.k, width: stage.width / t.k, height: stage.height / t.k };
}

type Listener = (t: Transform) => void;

export class Viewport {
  private transform: Transform = { x: 0, y: 0, k: 1 };
  private content = { width: 1, height: 1 };
  private readonly listeners = new Set<Listener>();
  private frame = 0;

  constructor(
    readonly stage: HTMLElement,
    private readonly layer: HTMLElement | SVGElement,
  ) {
    stage.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    stage.addEventListener("pointerdown", (e) => this.onPointerDown(e));
  }

  get(): Transform {
    return this.transform;
  }

  stageSize() {
    return { width: this.stage.clientWidth || 800, height: this.stage.clientHeight || 600 };
  }

  setContentSize(width: number, height: number): void {
    this.content = { width, height };
    this.layer.style.width = `${width}px`;
    this.layer.style.height = `${height}px`;
  }

  contentSize() {
    return this.content;
  }

  set(t: Transform): void {
    this.transform = t;
    // One style write per frame, however many events arrive.
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        const { x, y, k } = this.transform;
        this.layer.style.transform = `translate(${x}px, ${y}px) scale(${k})`;
        for (const listener of this.listeners) listener(this.transform);
      });
    }
  }

  fit(): void {
    this.set(fitTransform(this.content, this.stageSize()));
  }

  /** Centres the content point (x, y), keeping the zoom (or setting one). */
  centerOn(x: number, y: number, k = this.transform.k): void {
    const stage = this.stageSize();
    this.set({ k, x: stage.width / 2 - x * k, y: stage.height / 2 - y * k });
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private onWheel(event: WheelEvent): void {
    event.preventDefault();
    const rect = this.stage.getBoundingClientRect();
    const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015));
    this.set(zoomAround(this.transform, factor, event.clientX - rect.left, event.clientY - rect.top));
  }

  private onPointerDown(event: PointerEvent): void {
    if (event.button !== 0) return;
    const start = { x: event.clientX, y: event.clientY, t: this.transform };
    let moved = false;
    const move = (e: PointerEvent) => {
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (!moved && Math.hypot(dx, dy) < 3) return; // a click, not a drag
      moved = true;
      this.stage.classList.add("inn-panning");
      this.set({ ...start.t, x: start.t.x + dx, y: start.t.y + dy });
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      this.stage.classList.remove("inn-panning");
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }
}

/** A small overview of the whole view; the rectangle is what the stage shows; a click centres there. */
export class Minimap {
  private items: { x: number; y: number; width: number; height: number; color: string }[] = [];
  private readonly context: CanvasRenderingContext2D | null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly viewport: Viewport,
  ) {
    this.context = canvas.getContext("2d");
    viewport.onChange(() => this.draw());
    // The minimap sits on the stage: its clicks must not start a pan.
    canvas.addEventListener("pointerdown", (e) => e.stopPropagation());
    canvas.addEventListener("click", (e) => {
      const rect = canvas.getBoundingClientRect();
      const { scale, ox, oy } = this.mapping();
      this.viewport.centerOn((e.clientX - rect.left - ox) / scale, (e.clientY - rect.top - oy) / scale);
    });
  }

  setItems(items: { x: number; y: number; width: number; height: number; color: string }[]): void {
    this.items = items;
    this.draw();
  }

  private mapping() {
    const content = this.viewport.contentSize();
    const scale = Math.min(this.canvas.width / content.width, this.canvas.height / content.height);
    return { scale, ox: (this.canvas.width - content.width * scale) / 2, oy: (this.canvas.height - content.height * scale) / 2 };
  }

  draw(): void {
    const ctx = this.context;
    if (!ctx) return;
    const { scale, ox, oy } = this.mapping();
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    for (const item of this.items) {
      ctx.fillStyle = item.color;
      ctx.fillRect(ox + item.x * scale, oy + item.y * scale, Math.max(1, item.width * scale), Math.max(1, item.height * scale));
    }
    const view = visibleRect(this.viewport.get(), this.viewport.stageSize());
    // Nothing to find when everything is on screen: the minimap steps aside.
    const content = this.viewport.contentSize();
    this.canvas.hidden = view.x <= 0 && view.y <= 0 && view.x + view.width >= content.width && view.y + view.height >= content.height;
    ctx.strokeStyle = "#d62728";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(ox + view.x * scale, oy + view.y * scale, view.width * scale, view.height * scale);
  }
}
