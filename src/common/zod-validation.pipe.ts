import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { InvalidRequestError } from './errors';

/** A DTO class that carries its zod schema, so the global pipe can validate any parameter typed with it. */
export interface ZodDtoClass<S extends z.ZodType = z.ZodType> {
  new (): z.infer<S>;
  readonly schema: S;
}

/** Makes a DTO class from a schema: `class ListFilesQuery extends zodDto(listFilesQuerySchema) {}`. */
export function zodDto<S extends z.ZodType>(schema: S): ZodDtoClass<S> {
  class Dto {
    static readonly schema = schema;
  }
  return Dto as unknown as ZodDtoClass<S>;
}

/** Maps the first zod issue to an OpenAI-style invalid_request_error naming the parameter. */
export function zodToInvalidRequest(error: z.ZodError, prefix = ''): InvalidRequestError {
  const issue = error.issues[0];
  const param = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || null;
  const message =
    issue.message.startsWith('Invalid input') && param
      ? `Invalid value for '${param}': ${issue.message}`
      : issue.message;
  return new InvalidRequestError(
    param && !message.includes(`'${param}'`) ? `Invalid '${param}': ${message}` : message,
    param,
  );
}

/** Global pipe: validates a body or query whose declared type is a zod DTO; other parameters pass through. */
@Injectable()
export class ZodValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const schema = (metadata.metatype as Partial<ZodDtoClass> | undefined)?.schema;
    if (!schema) return value;
    const parsed = schema.safeParse(value ?? (metadata.type === 'body' ? undefined : {}));
    if (!parsed.success) throw zodToInvalidRequest(parsed.error);
    return parsed.data;
  }
}
