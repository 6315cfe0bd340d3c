// Run by the CronJob every five minutes: asks the web front end and the
// key-value store how they are doing and prints a one-line JSON report.
// Exits 1 when the web front end does not answer, so the Job retries (restartPolicy OnFailure).
const webUrl = process.env.WEB_URL ?? "http://127.0.0.1:30080";
const kvUrl = process.env.KV_URL;
const timeoutMs = Number(process.env.REPORT_TIMEOUT_MS ?? 5000);

async function getJson(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

const report = { at: new Date().toISOString() };
try {
  report.web = await getJson(`${webUrl}/api/info`);
} catch (error) {
  console.error(`report: web front end unreachable: ${error.message}`);
  process.exit(1);
}
if (kvUrl) {
  report.kvKeys = await getJson(`${kvUrl}/kv`).then(
    (body) => body.keys.length,
    (error) => `unreachable: ${error.message}`,
  );
}
console.log(JSON.stringify(report));
