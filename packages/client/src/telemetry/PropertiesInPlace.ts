import { checkPlainJsonData } from '../pipeline/plainJsonData.js';
import { compileFieldSet, DEFAULT_REDACTED_FIELDS } from '../pipeline/redactFields.js';
import { ENRICHED_KEYS } from './EventBuilder.js';
import { buildRedactor, type Redactor } from './redactor.js';
import type { ResolvedTelemetryOptions } from './resolveTelemetryOptions.js';

/**
 * What the pipeline lets `track()` read in place of a clone: the app's properties are read as
 * they are when nothing in the pipeline can write to them (no `custom` redactor, no `beforeSend`,
 * no key the field pass would replace, none of the keys the client sets) and the data is already
 * plain JSON within the property limits; only the pattern pass (`redact`) then runs on them.
 */
export class PropertiesInPlace {
  /** The redaction of properties read in place: the pattern pass alone. */
  readonly redact: Redactor;
  /**
   * The names the field pass of `buildRedactor` replaces (null: none), or undefined when the
   * pipeline may write to the properties in other ways (`custom`, `beforeSend`): see `check`.
   */
  private readonly redactedFields: ReadonlySet<string> | null | undefined;
  /** `isClean` of the pass properties read in place go through: checked in the same walk. */
  private readonly cleanString: ((s: string) => boolean) | undefined;

  constructor(private readonly o: ResolvedTelemetryOptions) {
    this.redactedFields = fieldsRedactedBy(o);
    this.redact = buildRedactor(
      o.redaction === false ? false : { ...o.redaction, fields: false },
      o.propertyLimits.maxStringLength,
    );
    this.cleanString = this.redact.isClean;
  }

  /** Whether the pipeline may write to properties (`custom`, `beforeSend`): then none is read in place. */
  get never(): boolean {
    return this.redactedFields === undefined;
  }

  /** How `properties` may be read: 'no' (clone them), or in place, with every string clean or not. */
  check(properties: object): 'no' | 'plain' | 'clean' {
    if (this.redactedFields === undefined) return 'no';
    return checkPlainJsonData(
      properties as Record<string, unknown>,
      this.o.propertyLimits,
      this.redactedFields,
      ENRICHED_KEYS,
      this.cleanString,
      this.o.maxEventBytes,
    );
  }
}

/** What `PropertiesInPlace.redactedFields` holds, from the same options `buildRedactor` reads. */
function fieldsRedactedBy(o: ResolvedTelemetryOptions): ReadonlySet<string> | null | undefined {
  if (o.beforeSend !== undefined) return undefined;
  if (o.redaction === false) return null;
  if (o.redaction.custom !== undefined) return undefined;
  if (o.redaction.fields === false) return null;
  return compileFieldSet(o.redaction.fields ?? DEFAULT_REDACTED_FIELDS);
}
