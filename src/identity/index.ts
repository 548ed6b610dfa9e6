/**
 * Who acts, established by each surface and never claimed: a Principal is a canonical
 * person (through `people:`), the surface, how it was authenticated, what was merely
 * asserted, and break-glass details when acting for someone else.
 */
export { People, peopleSchema, personSchema, CANONICAL_ID, mayBeSamePerson, unmappedSurface, type PeopleConfig, type Person } from "./people.ts";
export {
  authenticatedPerson,
  principalAudit,
  principalFromOidc,
  principalFromSlack,
  principalFromTerminal,
  systemPrincipal,
  type Authentication,
  type BreakGlass,
  type BreakGlassRule,
  type OidcIdentity,
  type Principal,
  type Surface,
  type TerminalLogin,
} from "./principal.ts";
