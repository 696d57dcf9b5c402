import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { type InputHTMLAttributes, type KeyboardEvent, useEffect, useId, useRef, useState } from 'react';

import { tagsListTagsOptions } from '../client/@tanstack/react-query.gen';
import { parseTags } from '../lib/format';

/** How many tags the list offers, and how long typing pauses before it asks the server. */
const OFFERED = 8;
const PAUSE_MS = 120;

/** The part being typed: after the last comma when the field takes several tags. */
export function typedPart(value: string, multiple: boolean): string {
  return (multiple ? value.slice(value.lastIndexOf(',') + 1) : value).trim();
}

/** The field's value once `tag` is chosen for the part being typed. */
export function withTag(value: string, tag: string, multiple: boolean): string {
  if (!multiple) return tag;
  const before = parseTags(value.slice(0, value.lastIndexOf(',') + 1));
  return [...before.filter((t) => t.toLowerCase() !== tag.toLowerCase()), tag].join(', ') + ', ';
}

type Props = Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange' | 'value' | 'defaultValue'> & {
  name: string;
  /** The field's name as read aloud. Given as aria-label, since the <label> around the field
   * also holds the list, whose options would otherwise join the field's name. */
  label: string;
  defaultValue?: string;
  /** Several tags, comma separated (the default), or one. */
  multiple?: boolean;
  /** Called with the field's text whenever it changes (typing or choosing). */
  onValueChange?: (value: string) => void;
  /** Called when a tag is chosen from the list (Enter, Tab or a click). */
  onChoose?: (value: string) => void;
};

/**
 * A text field for tags that offers the user's own tags as they type (an ARIA combobox): the
 * ones starting with the typed letters first, then the most used. Arrow keys move, Enter or
 * Tab takes one, Escape closes. It stays a plain input named `name`, so forms read it as
 * before; the server answers from an index at any number of tags (bench/tags.py).
 */
export function TagField({
  name,
  label,
  defaultValue = '',
  multiple = true,
  onValueChange,
  onChoose,
  className,
  onKeyDown: keyDown,
  onBlur: blur,
  onFocus: focus,
  ...rest
}: Props) {
  const [value, setValue] = useState(defaultValue);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [asked, setAsked] = useState('');
  const inputRef = useRef<HTMLInputElement>(null);
  const listId = useId();
  const typed = typedPart(value, multiple);

  // A form's reset() empties the field, as it would a plain input.
  useEffect(() => {
    const form = inputRef.current?.form;
    if (!form) return;
    const reset = () => setValue(defaultValue);
    form.addEventListener('reset', reset);
    return () => form.removeEventListener('reset', reset);
  }, [defaultValue]);

  useEffect(() => {
    const t = window.setTimeout(() => setAsked(typed), PAUSE_MS);
    return () => window.clearTimeout(t);
  }, [typed]);

  const offered = useQuery({
    ...tagsListTagsOptions({ query: { q: asked, limit: OFFERED + 4 } }),
    enabled: open && asked.length > 0,
    placeholderData: keepPreviousData,
    staleTime: 30_000,
  });
  const chosen = new Set(parseTags(multiple ? value : '').map((t) => t.toLowerCase()));
  const items = (asked && typed ? offered.data?.items ?? [] : [])
    .filter((t) => !chosen.has(t.name.toLowerCase()) || t.name.toLowerCase() === typed.toLowerCase())
    .filter((t) => t.name.toLowerCase() !== typed.toLowerCase() || !multiple)
    .slice(0, OFFERED);
  const shown = open && items.length > 0;

  function change(next: string) {
    setValue(next);
    setActive(-1);
    setOpen(true);
    onValueChange?.(next);
  }

  function choose(tag: string) {
    const next = withTag(value, tag, multiple);
    setValue(next);
    setOpen(false);
    setActive(-1);
    onValueChange?.(next);
    onChoose?.(next);
    inputRef.current?.focus();
  }

  function onKeyDown(e: KeyboardEvent<HTMLInputElement>) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!items.length) return;
      e.preventDefault();
      setOpen(true);
      const step = e.key === 'ArrowDown' ? 1 : -1;
      // -1 (the typed text) and the options, in a ring.
      setActive((i) => ((i + 1 + step + items.length + 1) % (items.length + 1)) - 1);
    } else if ((e.key === 'Enter' || e.key === 'Tab') && shown && active >= 0 && items[active]) {
      e.preventDefault();
      choose(items[active].name);
    } else if (e.key === 'Escape' && shown) {
      e.preventDefault();
      setOpen(false);
      setActive(-1);
    }
    if (!e.defaultPrevented) keyDown?.(e); // the caller's own keys (Enter to filter, say)
  }

  return (
    <span className={`tag-field${className ? ` ${className}` : ''}`}>
      <input
        {...rest}
        ref={inputRef}
        name={name}
        aria-label={label}
        value={value}
        autoComplete="off"
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={shown}
        aria-controls={listId}
        aria-activedescendant={shown && active >= 0 ? `${listId}-${active}` : undefined}
        onChange={(e) => change(e.currentTarget.value)}
        onKeyDown={onKeyDown}
        onFocus={(e) => {
          setOpen(true);
          focus?.(e);
        }}
        onBlur={(e) => {
          setOpen(false);
          blur?.(e);
        }}
      />
      <ul id={listId} role="listbox" className="tag-options" hidden={!shown} aria-label="Tag suggestions">
        {items.map((t, i) => (
          <li
            key={t.id}
            id={`${listId}-${i}`}
            role="option"
            aria-selected={i === active}
            // mousedown, not click: the input keeps its focus (a blur would close the list first).
            onMouseDown={(e) => {
              e.preventDefault();
              choose(t.name);
            }}
          >
            <span className="tag-option-name">{t.name}</span>
            <span className="muted small">{t.count}</span>
          </li>
        ))}
      </ul>
    </span>
  );
}
