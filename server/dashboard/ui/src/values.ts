// Convex values as the dashboard shows and edits them: JSON, with int64 and
// bytes in Convex's JSON form ({"$integer": ...}, {"$bytes": ...}), so a
// document shown and saved back is exactly what was stored.
import { convexToJson, jsonToConvex, type Value as ConvexValue } from "convex/values";
import type { ValidatorJson } from "./admin";

export function toText(value: unknown, indent?: number): string {
  if (value === undefined) return "";
  return JSON.stringify(convexToJson(value as ConvexValue), null, indent);
}

// Parses the text of an editor; throws with a readable message.
export function fromText(text: string): ConvexValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`Not valid JSON: ${(error as Error).message}`);
  }
  return jsonToConvex(parsed as Parameters<typeof jsonToConvex>[0]);
}

// A value typed into a filter: JSON when it parses, else the text itself.
export function looseValue(text: string): ConvexValue {
  try {
    return fromText(text);
  } catch {
    return text;
  }
}

export function userFields(doc: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(doc).filter(([key]) => !key.startsWith("_")));
}

// A validator as TypeScript-like text: `{ text: string; done?: boolean }`.
export function describe(validator: ValidatorJson | null): string {
  if (validator === null) return "any (no validator)";
  switch (validator.type) {
    case "id":
      return `Id<"${validator.tableName}">`;
    case "literal":
      return toText(validator.value);
    case "array":
      return `Array<${describe(validator.value)}>`;
    case "union":
      return validator.value.map(describe).join(" | ");
    case "record":
      return `Record<${describe(validator.keys)}, ${describe(validator.values.fieldType)}>`;
    case "object": {
      const fields = Object.entries(validator.value).map(
        ([name, field]) => `${name}${field.optional ? "?" : ""}: ${describe(field.fieldType)}`,
      );
      return fields.length ? `{ ${fields.join("; ")} }` : "{}";
    }
    case "bytes":
      return "ArrayBuffer";
    default:
      return validator.type;
  }
}

// Starting text for an editor: the object's required fields with blank values.
export function skeleton(validator: ValidatorJson | null): string {
  if (validator === null || validator.type !== "object") return "{}";
  const blank = (v: ValidatorJson): unknown =>
    ({ string: "", number: 0, boolean: false, array: [], object: {} })[v.type as string] ?? null;
  const fields = Object.entries(validator.value)
    .filter(([, field]) => !field.optional)
    .map(([name, field]) => [name, blank(field.fieldType)]);
  return JSON.stringify(Object.fromEntries(fields), null, 2);
}
