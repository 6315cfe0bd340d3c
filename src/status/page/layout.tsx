import type { Child } from "hono/jsx";
import { raw } from "hono/html";
import { assetUrl } from "./assets.ts";
import { relativeTime as relative } from "./format.ts";

/** What every rendered page needs besides its data. */
export interface PageContext {
  /** This response's CSP nonce: the only script allowed to run carries it. */
  nonce: string;
  /** The browser's CSRF token, double-submitted by every form (csrf.ts). */
  csrf: string;
  /** False while no CAPSTAN_TOKEN is configured: the forms are shown disabled. */
  actionsEnabled: boolean;
  now: Date;
}

/** The page around every view: styles and script from /assets/, and the live-update marker the script sets. */
export function Layout(props: { page: PageContext; title: string; children: Child }) {
  return (
    <>
      {raw("<!doctype html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{props.title} · capstan</title>
          {/* No favicon request to 404 on every load (img-src allows data:). */}
          <link rel="icon" href="data:," />
          <link rel="stylesheet" href={assetUrl("page.css")} />
          <script nonce={props.page.nonce} src={assetUrl("page.js")} defer></script>
        </head>
        <body data-live="off">
          <nav class="top">
            <a href="/" class="brand">
              capstan
            </a>
            <span class="live-indicator" aria-live="polite">
              <span class="dot"></span> live
            </span>
          </nav>
          {props.children}
        </body>
      </html>
    </>
  );
}

/** A health or outcome word, coloured by tone and always spelled out (colour alone says nothing to some readers). */
export function Badge(props: { tone: string; children: Child }) {
  return <span class={`badge tone-${props.tone}`}>{props.children}</span>;
}

/** "part of whole" as a native bar (no inline style: the CSP forbids it) with the numbers as text beside it. */
export function Bar(props: { part: number; whole: number; label: string; kind?: "progress" | "meter" }) {
  const max = Math.max(props.whole, props.part, 1);
  return (
    <span class="bar-cell">
      {props.kind === "meter" ? (
        <meter min={0} max={max} value={props.part} high={max * 0.9} aria-label={props.label}></meter>
      ) : (
        <progress max={max} value={props.part} aria-label={props.label}></progress>
      )}
      <span class="bar-label">{props.label}</span>
    </span>
  );
}

export function Time(props: { at: Date | string | null | undefined; now: Date }) {
  if (props.at === null || props.at === undefined) return <span class="muted">never</span>;
  const date = typeof props.at === "string" ? new Date(props.at) : props.at;
  if (Number.isNaN(date.getTime())) return <span class="muted">unknown</span>;
  return (
    <time datetime={date.toISOString()} title={date.toISOString()}>
      {relative(date, props.now)}
    </time>
  );
}
