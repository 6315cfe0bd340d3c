/**
 * Small readers of rendered HTML for the page's tests (no DOM library is
 * installed; Chromium tests are the browser suite's). They find an element
 * by an attribute and return its outer HTML or its text.
 */

/** The outer HTML of the first `<tag …attribute…>…</tag>` (no nesting of the same tag inside). */
export function element(html: string, tag: string, attribute: string): string {
  const start = html.search(new RegExp(`<${tag}\\b[^>]*${escapeRegExp(attribute)}`));
  if (start < 0) throw new Error(`no <${tag}> with ${attribute} in the page`);
  const end = html.indexOf(`</${tag}>`, start);
  return html.slice(start, end + tag.length + 3);
}

export function hasElement(html: string, tag: string, attribute: string): boolean {
  return new RegExp(`<${tag}\\b[^>]*${escapeRegExp(attribute)}`).test(html);
}

/** The text of some HTML, tags dropped and the five escapes of hono's JSX undone. */
export function textOf(html: string): string {
  return html
    .replace(/<[^>]*>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

/** The value attribute of the hidden input `name` inside `html`. */
export function inputValue(html: string, name: string): string {
  const match = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html) ?? new RegExp(`<input[^>]*value="([^"]*)"[^>]*name="${name}"`).exec(html);
  if (!match) throw new Error(`no input ${name}`);
  return match[1]!;
}

export function attribute(elementHtml: string, name: string): string | null {
  return new RegExp(`\\b${name}="([^"]*)"`).exec(elementHtml)?.[1] ?? null;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
