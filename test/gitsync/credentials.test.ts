import { describe, expect, it } from "vitest";
import { basicCredentials, redactText, redactUrl, splitUrlCredentials } from "../../src/gitsync/credentials.ts";

describe("credentials in URLs", () => {
  it("splits userinfo off an http(s) URL, decoding it", () => {
    expect(splitUrlCredentials("https://alice:p%40ss@git.example.com/acme/deploy.git")).toEqual({
      url: "https://git.example.com/acme/deploy.git",
      auth: { username: "alice", password: "p@ss" },
    });
  });

  it("leaves URLs without userinfo and local paths alone", () => {
    expect(splitUrlCredentials("https://git.example.com/acme/deploy.git")).toEqual({
      url: "https://git.example.com/acme/deploy.git",
      auth: undefined,
    });
    expect(redactUrl("/srv/git/deploy")).toBe("/srv/git/deploy");
  });
});

describe("basicCredentials", () => {
  it.each([
    ["a token alone goes as the username", { token: "tok" }, { username: "tok", password: "x-oauth-basic" }],
    ["a token with a username goes as the password", { username: "oauth2", token: "tok" }, { username: "oauth2", password: "tok" }],
    ["username and password go as they are", { username: "alice", password: "pw" }, { username: "alice", password: "pw" }],
    ["nothing sends nothing", {}, undefined],
  ])("%s", (_, auth, expected) => {
    expect(basicCredentials(auth)).toEqual(expected);
  });
});

describe("redactText", () => {
  it("removes userinfo from any URL in the text", () => {
    expect(redactText("cannot reach https://bob:hunter2@git.example.com/x.git", undefined)).toBe(
      "cannot reach https://git.example.com/x.git",
    );
  });

  it("removes passwords, tokens, their URL-encoded forms and the basic-auth header value", () => {
    const auth = { username: "alice", password: "p@ss/word" };
    const header = Buffer.from("alice:p@ss/word").toString("base64");
    const text = `bad password p@ss/word (p%40ss%2Fword), header Basic ${header}, user alice`;
    expect(redactText(text, auth)).toBe("bad password [redacted] ([redacted]), header Basic [redacted], user alice");
    expect(redactText("token ghp_abc rejected", { token: "ghp_abc" })).toBe("token [redacted] rejected");
  });
});
