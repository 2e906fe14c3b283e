/* Chemical elements by symbol: atomic numbers for importers (PDB element columns, XYZ symbols,
 * force-field types). Static data; nothing to free. */
#ifndef CLMD_SYSTEM_ELEMENT_H
#define CLMD_SYSTEM_ELEMENT_H

/* Atomic number of a symbol, case-insensitive ("AR", "ar", "Ar" -> 18); 0 when the text is not
 * an element symbol (e.g. "EP", "M" for extra points). Surrounding blanks are ignored. */
int clmd_element_number(const char *symbol);

/* Symbol of atomic number z ("Ar"), or "" when z is out of range. */
const char *clmd_element_symbol(int z);

#endif
