/**
 * Pure matching: (Alert, playbooks, catalog) -> the failure mode and ranked playbooks, with reasons.
 */
export { createMatcher, matchAlert, CANDIDATE_THRESHOLD } from "./matcher.ts";
export { MODE_THRESHOLD } from "./classify.ts";
export { proposable } from "./types.ts";
export type { Candidate, Matcher, MatchResult } from "./types.ts";
