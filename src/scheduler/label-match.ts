import type { LabelSelector } from "../desired/index.ts";

/**
 * Label requirements compiled once per pod into flat arrays, so matching a
 * node's or a pod's labels allocates nothing (selectorMatches in src/desired
 * walks Object.entries on every call, which is fine once but not a million
 * times).
 */

type Operator = "Equals" | "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt";

export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
  /** The integer Gt and Lt compare with. */
  readonly bound: number;
}

/** All requirements must hold; an empty list matches everything. */
export type LabelMatcher = readonly Requirement[];

export function requirement(key: string, operator: Operator, values: readonly string[] = []): Requirement {
  return { key, operator, values, bound: operator === "Gt" || operator === "Lt" ? Number.parseInt(values[0] ?? "", 10) : 0 };
}

/** nodeSelector: every label must be present with exactly this value. */
export function matchLabelsMatcher(labels: Record<string, string>): LabelMatcher {
  return Object.entries(labels).map(([key, value]) => requirement(key, "Equals", [value]));
}

/** A node selector term or a label selector's expressions. */
export function expressionsMatcher(expressions: readonly { key: string; operator: Operator; values?: string[] | undefined }[]): LabelMatcher {
  return expressions.map((expression) => requirement(expression.key, expression.operator, expression.values ?? []));
}

export function labelSelectorMatcher(selector: LabelSelector): LabelMatcher {
  return [...matchLabelsMatcher(selector.matchLabels ?? {}), ...expressionsMatcher(selector.matchExpressions ?? [])];
}

const integerPattern = /^-?\d+$/;

export function matches(matcher: LabelMatcher, labels: Record<string, string>): boolean {
  for (const requirement of matcher) {
    const value = Object.hasOwn(labels, requirement.key) ? labels[requirement.key] : undefined;
    switch (requirement.operator) {
      case "Equals":
        if (value !== requirement.values[0]) return false;
        break;
      case "In":
        if (value === undefined || !requirement.values.includes(value)) return false;
        break;
      case "NotIn":
        if (value !== undefined && requirement.values.includes(value)) return false;
        break;
      case "Exists":
        if (value === undefined) return false;
        break;
      case "DoesNotExist":
        if (value !== undefined) return false;
        break;
      // A label that is absent or not an integer satisfies neither Gt nor Lt.
      case "Gt":
        if (value === undefined || !integerPattern.test(value) || !(Number.parseInt(value, 10) > requirement.bound)) return false;
        break;
      case "Lt":
        if (value === undefined || !integerPattern.test(value) || !(Number.parseInt(value, 10) < requirement.bound)) return false;
        break;
    }
  }
  return true;
}
