/* realbench_sources.h - the built-in classes of tc-realbench: one real
 * photograph each, from Debian packages (./deps.sh realbench installs them).
 * Fields: class name, file, crop centre (fractions of width, height), crop
 * side (fraction of the shorter side). Not used on purpose (kept for an
 * independent check, issue 15): opencv-doc, python3-skimage's data,
 * darknet's data. gnome-backgrounds ships only WebP/SVG, sway-backgrounds
 * and ukui-wallpapers only drawings, so none of them is used either. */
{"boats", "/usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg", 0.5, 0.5, 0.5},
{"cups", "/usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg", 0.5, 0.5, 0.5},
{"dahlia", "/usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg", 0.5, 0.5, 0.5},
{"dandelion", "/usr/share/backgrounds/mate/nature/TwoWings.jpg", 0.5, 0.5, 0.5},
{"fallen_leaf", "/usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg", 0.5, 0.5, 0.5},
{"grass", "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg", 0.5, 0.5, 0.5},
{"hopper", "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg", 0.5, 0.5, 0.5},
{"leaf", "/usr/share/backgrounds/mate/nature/Blinds.jpg", 0.5, 0.5, 0.5},
{"leaf_drops", "/usr/share/backgrounds/mate/nature/RainDrops.jpg", 0.5, 0.5, 0.5},
{"moss", "/usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg", 0.5, 0.5, 0.5},
{"palace", "/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg", 0.5, 0.5, 0.5},
{"red_petals", "/usr/share/backgrounds/mate/nature/FreshFlower.jpg", 0.5, 0.5, 0.5},
{"stripes", "/usr/share/wallpapers/Grey/contents/images/2560x1600.jpg", 0.5, 0.5, 0.5},
{"wood", "/usr/share/backgrounds/mate/nature/Wood.jpg", 0.5, 0.5, 0.5},
{"yellow_petals", "/usr/share/backgrounds/mate/nature/YellowFlower.jpg", 0.5, 0.5, 0.5},
