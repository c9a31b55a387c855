import { SetMetadata } from '@nestjs/common';

/** Metadata key for routes that need no API key. */
export const IS_PUBLIC = 'isPublic';
/** Marks a controller or route as open (health, metrics). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
