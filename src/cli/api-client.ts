import type { z } from "zod";
import { CapstanError } from "../errors.ts";

/** The control plane did not answer, or answered with an error. */
export class ApiError extends CapstanError {
  readonly code = "ApiError";
  constructor(
    readonly url: string,
    readonly status: number | null,
    message: string,
  ) {
    super(message);
  }
}

/** GETs a JSON document from a running control plane and checks its shape with the API's own schema. */
export async function getJson<Schema extends z.ZodType>(server: string, path: string, schema: Schema): Promise<z.infer<Schema>> {
  return requestJson(server, path, schema);
}

/** POSTs a JSON body and checks the answer's shape. */
export async function postJson<Schema extends z.ZodType>(server: string, path: string, body: unknown, schema: Schema): Promise<z.infer<Schema>> {
  const token = process.env.CAPSTAN_TOKEN;
  const headers: Record<string, string> = { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) };
  return requestJson(server, path, schema, { method: "POST", body: JSON.stringify(body), headers });
}

async function requestJson<Schema extends z.ZodType>(server: string, path: string, schema: Schema, init: RequestInit = {}): Promise<z.infer<Schema>> {
  const url = new URL(path, server).toString();
  let response: Response;
  try {
    response = await fetch(url, { ...init, headers: { accept: "application/json", ...(init.headers as Record<string, string>) } });
  } catch (error) {
    throw new ApiError(url, null, `cannot reach the control plane at ${server} (${(error as Error).message}); is 'capstan up' running? (--server, CAPSTAN_SERVER)`);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && typeof body === "object" && "error" in body ? String(body.error) : response.statusText;
    // A refusal (409: the branch moved, nothing to roll back) is the user's answer, not a transport failure.
    throw new ApiError(url, response.status, response.status === 409 ? detail : `${url}: ${response.status} ${detail}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ApiError(url, response.status, `${url}: unexpected response shape: ${parsed.error.message}`);
  return parsed.data;
}
