/** One list's items, with the library's filters, selection and bulk actions (LibraryPage). */
import { useQuery } from '@tanstack/react-query';
import { useParams } from 'react-router';

import { listsGetListOptions } from '../client/@tanstack/react-query.gen';
import { ErrorNotice } from '../components/Notice';
import { LibraryPage } from './LibraryPage';

export function ListPage() {
  const { id = '' } = useParams();
  const list = useQuery(listsGetListOptions({ path: { list_id: id } }));
  if (list.error)
    return (
      <section className="page">
        <h1>List</h1>
        <ErrorNotice error={list.error} />
      </section>
    );
  if (!list.data)
    return (
      <p className="muted" role="status">
        Loading…
      </p>
    );
  return <LibraryPage key={id} list={list.data} />;
}
