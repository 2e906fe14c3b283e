#include "system/element.h"

#include <ctype.h>
#include <string.h>

static const char *const symbols[] = {
    "",   "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
    "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
    "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
    "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
    "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
    "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
    "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
#define NELEMENTS ((int)(sizeof symbols / sizeof symbols[0]))

int clmd_element_number(const char *symbol)
{
    if (!symbol) return 0;
    while (*symbol == ' ') symbol++;
    size_t len = strlen(symbol);
    while (len > 0 && symbol[len - 1] == ' ') len--;
    if (len == 0 || len > 2) return 0;
    char s[3] = {(char)toupper((unsigned char)symbol[0]),
                 len > 1 ? (char)tolower((unsigned char)symbol[1]) : '\0', '\0'};
    for (int z = 1; z < NELEMENTS; z++)
        if (strcmp(symbols[z], s) == 0) return z;
    return 0;
}

const char *clmd_element_symbol(int z)
{
    return z > 0 && z < NELEMENTS ? symbols[z] : "";
}
