/**
 * A strict reader of the Prometheus text exposition format (0.0.4), enough
 * to check what /metrics serves: every sample belongs to a family declared by
 * a `# TYPE` line, label values are quoted and escaped, values are numbers.
 * It throws on anything else, so a malformed exposition fails the test.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Family name → counter, gauge, histogram, summary or untyped. */
  types: Map<string, string>;
  samples: Sample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const suffixes: Record<string, string[]> = { histogram: ["_bucket", "_sum", "_count"], summary: ["_sum", "_count", ""], counter: ["", "_total"], gauge: [""], untyped: [""] };

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const [index, line] of text.split("\n").entries()) {
    const where = `line ${index + 1} (${JSON.stringify(line)})`;
    if (line === "") continue;
    if (line.startsWith("#")) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type) {
        if (types.has(type[1]!)) throw new Error(`${where}: a second TYPE for ${type[1]}`);
        types.set(type[1]!, type[2]!);
      } else if (!/^# HELP \S+ ?.*$/.test(line)) throw new Error(`${where}: neither HELP nor TYPE`);
      continue;
    }
    const sample = parseSample(line, where);
    if (!familyOf(sample.name, types)) throw new Error(`${where}: no TYPE line declares ${sample.name}`);
    samples.push(sample);
  }
  return { types, samples };
}

function familyOf(name: string, types: Map<string, string>): string | undefined {
  for (const [family, type] of types) {
    if ((suffixes[type] ?? [""]).some((suffix) => name === family + suffix)) return family;
  }
  return undefined;
}

function parseSample(line: string, where: string): Sample {
  const nameEnd = line.search(/[{ ]/);
  if (nameEnd <= 0) throw new Error(`${where}: no value`);
  const name = line.slice(0, nameEnd);
  if (!metricName.test(name)) throw new Error(`${where}: bad metric name`);
  const labels: Record<string, string> = {};
  let rest = line.slice(nameEnd);
  if (rest.startsWith("{")) {
    let position = 1;
    while (rest[position] !== "}") {
      const equals = rest.indexOf("=", position);
      const label = rest.slice(position, equals);
      if (equals < 0 || !labelName.test(label) || rest[equals + 1] !== '"') throw new Error(`${where}: bad label at ${position}`);
      let value = "";
      let cursor = equals + 2;
      for (; cursor < rest.length && rest[cursor] !== '"'; cursor++) {
        if (rest[cursor] === "\\") {
          const escaped = rest[++cursor];
          value += escaped === "n" ? "\n" : escaped;
        } else value += rest[cursor];
      }
      if (cursor >= rest.length) throw new Error(`${where}: unterminated label value`);
      labels[label] = value;
      position = cursor + 1;
      if (rest[position] === ",") position++;
      else if (rest[position] !== "}") throw new Error(`${where}: expected , or }`);
    }
    rest = rest.slice(position + 1);
  }
  const fields = rest.trim().split(/\s+/);
  if (fields.length < 1 || fields.length > 2) throw new Error(`${where}: expected a value and an optional timestamp`);
  const raw = fields[0]!;
  // As Go's strconv.ParseFloat, which Prometheus uses: Inf and NaN in any case (prom-client writes "Nan").
  const special = /^([+-]?)inf$/i.exec(raw);
  const isNaN = /^nan$/i.test(raw);
  const value = special ? (special[1] === "-" ? -Infinity : Infinity) : isNaN ? NaN : Number(raw);
  if (Number.isNaN(value) && !isNaN) throw new Error(`${where}: ${raw} is not a number`);
  return { name, labels, value };
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none; throws when several match. */
export function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const matching = exposition.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matching[0]?.value;
}
