import { Controller, Delete, Get, HttpCode, Param, Post, Query, Req, StreamableFile } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Owner } from '../common/owner.decorator';
import { ListFilesQuery } from './files.schemas';
import { FilesService } from './files.service';

/** The Files API (docs/api.md, Files). */
@Controller('v1/files')
export class FilesController {
  constructor(private readonly files: FilesService) {}

  /** Upload a file (multipart: file, purpose, optional expires_after). */
  @Post()
  @HttpCode(200)
  upload(@Owner() owner: string, @Req() req: FastifyRequest) {
    return this.files.upload(owner, req);
  }

  /** List the caller's files. */
  @Get()
  list(@Owner() owner: string, @Query() query: ListFilesQuery) {
    return this.files.list(owner, query);
  }

  /** Retrieve a File object. */
  @Get(':id')
  retrieve(@Owner() owner: string, @Param('id') id: string) {
    return this.files.retrieve(owner, id);
  }

  /** Download a file's bytes, streamed. */
  @Get(':id/content')
  async content(@Owner() owner: string, @Param('id') id: string) {
    const { stream, bytes } = await this.files.content(owner, id);
    return new StreamableFile(stream, { type: 'application/octet-stream', length: bytes });
  }

  /** Delete a file and its bytes. */
  @Delete(':id')
  remove(@Owner() owner: string, @Param('id') id: string) {
    return this.files.delete(owner, id);
  }
}
