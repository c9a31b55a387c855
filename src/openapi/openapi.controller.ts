import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../common/public.decorator';
import { docsPage } from './docs-page';
import { openApiDocument } from './openapi-document';

/** The API described: the OpenAPI document and a page of it, open without a key. */
@Public()
@Controller()
export class OpenApiController {
  private readonly document = openApiDocument();
  private readonly page = docsPage(this.document as Parameters<typeof docsPage>[0]);

  /** The OpenAPI 3.1 document of every route, generated from the schemas that validate the requests. */
  @Get('openapi.json')
  openapi() {
    return this.document;
  }

  /** The document as a web page (local, no assets from elsewhere). */
  @Get('docs')
  @Header('content-type', 'text/html; charset=utf-8')
  docs() {
    return this.page;
  }
}
