/**
 * Light and dark themes: the system's choice (prefers-color-scheme) unless the user
 * picked one, which is remembered in localStorage.
 */
export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'pq-studio-theme';

export function savedTheme(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'system';
  } catch {
    return 'system';
  }
}

/** Sets data-theme on <html> (the CSS reads it; "system" leaves it to the media query). */
export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === 'system') delete root.dataset.theme;
  else root.dataset.theme = choice;
  try {
    if (choice === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
  } catch {
    // Private windows may refuse storage; the theme still applies to this page.
  }
}
