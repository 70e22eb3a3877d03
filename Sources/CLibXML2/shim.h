// Shim for libxml2: the headers ContractKit uses, plus static inline wrappers for what Swift cannot
// call directly (xmlFree is a macro over a thread-local function pointer on Debian's build).
#ifndef TUITIONGUARD_CLIBXML2_SHIM_H
#define TUITIONGUARD_CLIBXML2_SHIM_H

// Debian's libxml2 is built with ICU, so libxml/encoding.h includes <unicode/ucnv.h>. The system ICU's
// UErrorCode then clashes with the ICU that Foundation bundles (_FoundationICU) in every module that sees both,
// and a clean build fails. ContractKit never uses libxml2's ICU converters: declare the two types encoding.h
// names (only behind pointers or as 16-bit units) and skip ICU's header by its include guard.
#include <stdint.h>
#define UCNV_H 1
typedef struct UConverter UConverter;
typedef uint16_t UChar;

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlsave.h>
#include <libxml/c14n.h>
#include <libxml/xmlschemas.h>
#include <libxml/SAX2.h>

static inline void cx_xmlFree(void *pointer) { xmlFree(pointer); }

// The thread's structured error handler and its context, so a caller can restore them after
// temporarily routing errors of context-free libxml2 calls (C14N, tree) to its own collector.
static inline xmlStructuredErrorFunc cx_structuredErrorFunc(void) { return xmlStructuredError; }
static inline void *cx_structuredErrorContext(void) { return xmlStructuredErrorContext; }

// Generic (printf-style) errors are only used when no structured handler is installed and by a few
// debug paths; ContractKit installs its structured collector around every call, so this drops the rest
// instead of letting it reach stderr. Variadic, hence written in C.
static void cx_dropGenericError(void *context, const char *message, ...) {
    (void)context;
    (void)message;
}
static inline xmlGenericErrorFunc cx_genericErrorFunc(void) { return xmlGenericError; }
static inline void *cx_genericErrorContext(void) { return xmlGenericErrorContext; }
static inline void cx_dropGenericErrors(void) { xmlSetGenericErrorFunc(NULL, cx_dropGenericError); }

// Visibility callbacks for xmlC14NExecute, whose user data is the subtree's top element. libxml2 calls them for
// every node, attribute and namespace declaration of the document, so they are written in C: a Swift callback costs
// more than the canonicalization it steers. A namespace declaration is an xmlNs, whose fields do not line up with an
// xmlNode's beyond `type`: its element is the `parent` libxml2 passes alongside.
static inline int cx_c14n_is_inside(void *subtree, xmlNodePtr node, xmlNodePtr parent) {
    xmlNodePtr cursor = (node != NULL && node->type != XML_NAMESPACE_DECL) ? node : parent;
    while (cursor != NULL) {
        if (cursor == (xmlNodePtr)subtree) return 1;
        cursor = cursor->parent;
    }
    return 0;
}
static int cx_c14n_only_subtree(void *subtree, xmlNodePtr node, xmlNodePtr parent) {
    return cx_c14n_is_inside(subtree, node, parent);
}
static int cx_c14n_excluding_subtree(void *subtree, xmlNodePtr node, xmlNodePtr parent) {
    return !cx_c14n_is_inside(subtree, node, parent);
}
static inline xmlC14NIsVisibleCallback cx_c14n_only_subtree_callback(void) { return cx_c14n_only_subtree; }
static inline xmlC14NIsVisibleCallback cx_c14n_excluding_subtree_callback(void) { return cx_c14n_excluding_subtree; }

// The same two subsets without a callback, by relinking the tree for the one call and restoring every pointer after:
// for `only` (1) the subtree's top becomes the document's only child, so libxml2 walks the subtree and nothing else;
// for `only` 0 the subtree is taken out of its parent's child list, so libxml2 walks the rest without it. Exclusive
// C14N of a node takes nothing from its ancestors but the namespaces its own elements and attributes use (through
// their `ns` pointers, which the relinking leaves alone) and the xmlns="" an element without a namespace needs
// below a rendered default namespace, so the output is the callback's byte for byte when every element of the
// subtree has a namespace (a profile Signature: ds and xades only) -- `C14NSubsetTests` compares them. The document
// is changed during the call: no other thread may read it meanwhile (XMLDocument is not Sendable).
static inline int cx_c14n_relinked(xmlDocPtr doc, xmlNodePtr top, int only, xmlChar **inclusive_prefixes,
                                   xmlOutputBufferPtr output) {
    xmlNodePtr parent = top->parent, prev = top->prev, next = top->next;
    int written;
    if (only) {
        xmlNodePtr children = doc->children, last = doc->last;
        doc->children = doc->last = top;
        top->parent = (xmlNodePtr)doc;
        top->prev = top->next = NULL;
        written = xmlC14NExecute(doc, NULL, NULL, XML_C14N_EXCLUSIVE_1_0, inclusive_prefixes, 0, output);
        doc->children = children;
        doc->last = last;
        top->parent = parent;
        top->prev = prev;
        top->next = next;
        return written;
    }
    if (parent == NULL) return xmlC14NExecute(doc, NULL, NULL, XML_C14N_EXCLUSIVE_1_0, inclusive_prefixes, 0, output);
    if (prev != NULL) prev->next = next; else parent->children = next;
    if (next != NULL) next->prev = prev; else parent->last = prev;
    written = xmlC14NExecute(doc, NULL, NULL, XML_C14N_EXCLUSIVE_1_0, inclusive_prefixes, 0, output);
    if (prev != NULL) prev->next = top; else parent->children = top;
    if (next != NULL) next->prev = top; else parent->last = top;
    return written;
}

#endif
